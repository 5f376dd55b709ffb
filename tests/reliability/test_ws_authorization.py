"""The websocket authorization matrix (docs/reliability.md, "Authorization").

Each kind of caller gets exactly the refusal docs/protocol.md gives it: a
handshake refused before any frame for bad credentials or a foreign Origin,
``not_member`` (identical for rooms that exist and rooms that do not) for
rooms one is not in, ``muted`` for a muted member. Nobody receives a frame
of a room they are not in.
"""

import pytest
from channels.db import database_sync_to_async
from django.test import Client as HttpClient
from rest_framework.authtoken.models import Token

from chat import services
from chat.errors import Forbidden
from chat.models import Message

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]

MISSING_ROOM = 987_654_321


@database_sync_to_async
def _session_cookie(user):
    http = HttpClient()
    http.force_login(user)
    return f"sessionid={http.cookies['sessionid'].value}".encode()


@database_sync_to_async
def _token(user):
    return Token.objects.get_or_create(user=user)[0].key


@database_sync_to_async
def _revoke(user):
    Token.objects.filter(user=user).delete()


@database_sync_to_async
def _deactivate(user):
    user.is_active = False
    user.save(update_fields=["is_active"])


@database_sync_to_async
def _count_messages():
    return Message.objects.count()


async def _headers_for(case, alice):
    token = await _token(alice)
    auth = [(b"authorization", f"Token {token}".encode())]
    if case == "anonymous":
        return []
    if case == "wrong token":
        return [(b"authorization", b"Token " + b"0" * 40)]
    if case == "malformed authorization":
        return [(b"authorization", f"Bearer {token}".encode())]
    if case == "revoked token":
        await _revoke(alice)
        return auth
    if case == "deactivated user":
        await _deactivate(alice)
        return auth
    cookie = [(b"cookie", await _session_cookie(alice))]
    if case == "session cookie from a foreign origin":
        return cookie + [(b"origin", b"https://evil.example")]
    if case == "session cookie without an origin":
        return cookie
    if case == "session cookie from a look-alike origin":
        return cookie + [(b"origin", b"http://127.0.0.1.evil.example")]
    if case == "token from a foreign origin":
        return auth + [(b"origin", b"https://evil.example")]
    if case == "session of a deactivated user":
        await _deactivate(alice)
        return cookie + [(b"origin", b"http://127.0.0.1:8000")]
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "anonymous",
        "wrong token",
        "malformed authorization",
        "revoked token",
        "deactivated user",
        "session cookie from a foreign origin",
        "session cookie from a look-alike origin",
        "session cookie without an origin",
        "token from a foreign origin",
        "session of a deactivated user",
    ],
)
async def test_a_handshake_without_valid_credentials_is_refused_before_any_frame(
    connect, alice, room, case
):
    client = await connect(headers=await _headers_for(case, alice), expect_hello=False)
    assert client.connected is False
    assert client.communicator.output_queue.empty()  # not even hello


@pytest.mark.parametrize("case", ["token", "session cookie from the site"])
async def test_valid_credentials_are_accepted(connect, alice, room, case):
    if case == "token":
        headers = [(b"authorization", f"Token {await _token(alice)}".encode())]
    else:
        headers = [(b"cookie", await _session_cookie(alice)), (b"origin", b"http://localhost")]
    client = await connect(headers=headers)
    assert client.hello["user"]["id"] == alice.pk
    assert [r["id"] for r in client.hello["rooms"]] == [room.pk]


async def test_a_non_member_gets_the_same_not_member_for_a_real_room_and_a_missing_one(
    connect, alice, bob, carol, room
):
    a, c = await connect(alice), await connect(carol)
    assert c.hello["rooms"] == []
    replies = {}
    for target in (room.pk, MISSING_ROOM):
        await c.say(target, "let me in", f"x-{target}")
        replies[target] = await c.expect("error")
        await c.send(type="message.read", room=target, seq=1)
        replies[target, "read"] = await c.expect("error")
        await c.send(type="typing", room=target)
        replies[target, "typing"] = await c.expect("error")
    assert {f["code"] for f in replies.values()} == {"not_member"}
    assert replies[room.pk]["detail"] == replies[MISSING_ROOM]["detail"]
    await c.send(type="resume", rooms={str(room.pk): 0, str(MISSING_ROOM): 0})
    assert (await c.expect("error"))["code"] == "not_member"
    assert (await c.expect("resume.done"))["rooms"] == {}
    assert await _count_messages() == 0
    await a.quiet("typing")
    await a.quiet("message.new")


async def test_an_outsider_receives_nothing_from_a_room_it_is_not_in(
    connect, alice, bob, carol, room
):
    c = await connect(carol)
    a, b = await connect(alice), await connect(bob)
    await a.say(room.pk, "private", "p1")
    await a.expect("message.ack")
    await b.send(type="typing", room=room.pk)
    await b.send(type="message.read", room=room.pk, seq=1)
    await a.expect("typing")
    for kind in ("message.new", "typing", "read", "presence"):
        await c.quiet(kind, seconds=0.2)


async def test_a_removed_member_stops_receiving_at_once_and_can_no_longer_send_or_resume(
    connect, alice, bob, room
):
    a, b = await connect(alice), await connect(bob)
    await database_sync_to_async(services.membership_remove)(
        actor=alice, room_id=room.pk, user_id=bob.pk
    )
    assert (await b.expect("room.left"))["room"]["id"] == room.pk
    await a.say(room.pk, "after bob left", "a1")
    await a.expect("message.ack")
    await b.quiet("message.new")
    await b.say(room.pk, "still here?", "b1")
    assert (await b.expect("error"))["code"] == "not_member"
    await b.send(type="resume", rooms={str(room.pk): 0})
    assert (await b.expect("error"))["code"] == "not_member"
    assert (await b.expect("resume.done"))["rooms"] == {}
    await b.quiet("message.new")
    assert await _count_messages() == 1


async def test_a_muted_member_is_refused_with_muted_and_nothing_reaches_the_room(
    connect, alice, bob, make_user, room
):
    moderator = await database_sync_to_async(make_user)("mod", is_staff=True)
    await database_sync_to_async(services.membership_mute)(
        actor=moderator, room_id=room.pk, user_id=bob.pk, muted=True
    )
    a, b = await connect(alice), await connect(bob)
    await b.say(room.pk, "can you hear me", "m1")
    error = await b.expect("error")
    assert (error["code"], error["client_id"]) == ("muted", "m1")
    await a.quiet("message.new")
    assert await _count_messages() == 0


def test_a_member_cannot_mute_or_deactivate_without_being_a_moderator(alice, bob, room):
    with pytest.raises(Forbidden):
        services.membership_mute(actor=alice, room_id=room.pk, user_id=bob.pk, muted=True)
    with pytest.raises(Forbidden):
        services.user_deactivate(actor=alice, user=bob)


async def test_a_deactivated_users_sockets_close_at_once_and_cannot_reopen(
    connect, alice, bob, make_user, room
):
    moderator = await database_sync_to_async(make_user)("mod", is_staff=True)
    b = await connect(bob)
    await database_sync_to_async(services.user_deactivate)(actor=moderator, user=bob)
    with pytest.raises(ConnectionError, match="4003"):
        await b.expect("hello", timeout=3)
    again = await connect(bob, expect_hello=False)
    assert again.connected is False
