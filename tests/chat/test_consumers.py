"""The websocket protocol through the ASGI application (docs/protocol.md)."""

import asyncio
import time

import pytest
from channels.db import database_sync_to_async

from chat import services
from chat.models import Membership, Message

pytestmark = pytest.mark.django_db(transaction=True)


async def test_hello_lists_the_users_rooms_with_counters(connect, alice, room):
    client = await connect(alice)
    assert client.hello["user"] == {"id": alice.pk, "username": "alice"}
    assert client.hello["rooms"] == [
        {"id": room.pk, "name": "general", "last_seq": 0, "last_read_seq": 0, "unread": 0}
    ]


async def test_a_message_is_acked_and_reaches_every_member_socket(connect, alice, bob, carol, room):
    a, b, c = await connect(alice), await connect(bob), await connect(carol)
    await a.say(room.pk, "hello bob", "c-1")
    ack = await a.expect("message.ack")
    assert ack["client_id"] == "c-1" and ack["duplicate"] is False
    assert ack["message"]["seq"] == 1 and ack["message"]["body"] == "hello bob"
    assert ack["message"]["author"] == {"id": alice.pk, "username": "alice"}
    new_b = await b.expect("message.new")
    assert new_b["message"] == ack["message"]
    new_a = await a.expect("message.new")
    assert new_a["message"]["id"] == ack["message"]["id"]
    await c.quiet("message.new")


async def _replies(client, count):
    """The next ``count`` frames that answer the client's own frames, in arrival order."""
    replies = []
    while len(replies) < count:
        frame = await client.next_frame(5)
        if frame["type"] in ("message.ack", "error", "pong"):
            replies.append(frame)
    return replies


async def test_sends_in_a_row_are_answered_in_order_and_a_later_ping_after_them(
    connect, alice, bob, room
):
    a, b = await connect(alice), await connect(bob)
    await a.say(room.pk, "first", "p-1")
    await a.say(room.pk, "second", "p-2")
    await a.say(987654, "nowhere", "p-3")
    await a.say(room.pk, "first", "p-1")  # a repeat of the first
    await a.say(room.pk, "x" * 4001, "p-5")
    await a.say(room.pk, "third", "p-6")
    await a.send(type="ping")
    replies = await _replies(a, 7)
    assert [(r["type"], r.get("client_id")) for r in replies] == [
        ("message.ack", "p-1"),
        ("message.ack", "p-2"),
        ("error", "p-3"),
        ("message.ack", "p-1"),
        ("error", "p-5"),
        ("message.ack", "p-6"),
        ("pong", None),
    ]
    assert [replies[i]["message"]["seq"] for i in (0, 1, 3, 5)] == [1, 2, 1, 3]
    assert [replies[i]["duplicate"] for i in (0, 1, 3, 5)] == [False, False, True, False]
    assert [replies[i]["code"] for i in (2, 4)] == ["not_member", "too_long"]
    got = [(await b.expect("message.new"))["message"]["body"] for _ in range(3)]
    assert got == ["first", "second", "third"]
    await b.quiet("message.new")


async def test_sends_in_a_row_share_database_batches(connect, alice, room, monkeypatch):
    batches = []
    store = services.message_send_batch

    def recording(*, sends):
        batches.append(len(sends))
        return store(sends=sends)

    monkeypatch.setattr(services, "message_send_batch", recording)
    a = await connect(alice)
    for n in range(6):
        await a.say(room.pk, f"row {n}", f"row-{n}")
    acks = await _replies(a, 6)
    assert [ack["message"]["seq"] for ack in acks] == list(range(1, 7))
    # Not one batch per send: the socket handed in the next ones meanwhile.
    assert sum(batches) == 6 and len(batches) < 6


async def test_a_frame_is_answered_while_the_database_thread_is_busy(connect, alice):
    a = await connect(alice)
    # The database thread that every database_sync_to_async call shares.
    busy = asyncio.create_task(database_sync_to_async(time.sleep)(2.0))
    await asyncio.sleep(0.1)
    await a.send(type="ping")
    assert await a.expect("pong", timeout=1.0) == {"type": "pong"}
    assert not busy.done()
    await busy


async def test_more_sends_than_may_wait_at_once_are_all_stored_and_acked(
    connect, alice, room, settings
):
    settings.CHAT_MAX_SENDS_IN_FLIGHT = 2
    a = await connect(alice)
    for n in range(12):
        await a.say(room.pk, f"burst {n}", f"b-{n}")
    acks = await _replies(a, 12)
    assert [ack["client_id"] for ack in acks] == [f"b-{n}" for n in range(12)]
    assert [ack["message"]["seq"] for ack in acks] == list(range(1, 13))


async def test_sends_in_flight_when_the_socket_closes_are_still_stored_once(
    connect, alice, bob, room
):
    a, b = await connect(alice), await connect(bob)
    for n in range(5):
        await a.say(room.pk, f"going {n}", f"g-{n}")
    await a.close()
    got = [(await b.expect("message.new"))["message"]["seq"] for _ in range(5)]
    assert got == [1, 2, 3, 4, 5]
    assert await database_sync_to_async(Message.objects.count)() == 5


async def test_a_send_that_fails_unexpectedly_is_answered_unavailable_and_the_socket_lives(
    connect, alice, room, monkeypatch
):
    def broken(*, sends):
        raise RuntimeError("a bug, not bad input")

    monkeypatch.setattr(services, "message_send_batch", broken)
    a = await connect(alice)
    await a.say(room.pk, "hello", "u-1")
    await a.send(type="ping")
    replies = await _replies(a, 2)
    assert replies[0]["code"] == "unavailable" and replies[0]["client_id"] == "u-1"
    assert replies[1] == {"type": "pong"}
    monkeypatch.undo()
    await a.say(room.pk, "hello", "u-1")
    assert (await a.expect("message.ack"))["message"]["seq"] == 1


async def test_a_repeated_client_id_is_acked_as_duplicate_and_not_broadcast(
    connect, alice, bob, room
):
    a, b = await connect(alice), await connect(bob)
    await a.say(room.pk, "once", "same")
    first = await a.expect("message.ack")
    await b.expect("message.new")
    await a.say(room.pk, "once", "same")
    again = await a.expect("message.ack")
    assert again["duplicate"] is True and again["message"]["id"] == first["message"]["id"]
    await b.quiet("message.new")
    assert await database_sync_to_async(Message.objects.count)() == 1


@pytest.mark.parametrize(
    "raw, code",
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('"just a string"', "bad_frame"),
        ("{}", "unknown_type"),
        ('{"type": 5}', "unknown_type"),
        ('{"type": "launch.missiles"}', "unknown_type"),
        ('{"type": "message.send", "room": "x", "body": "hi", "client_id": "a"}', "bad_frame"),
        ('{"type": "message.send", "room": true, "body": "hi", "client_id": "a"}', "bad_frame"),
        ('{"type": "message.send", "room": 1}', "bad_frame"),
        ('{"type": "message.send", "room": 1, "body": 7, "client_id": "a"}', "bad_frame"),
        ('{"type": "message.send", "room": 1, "body": "   ", "client_id": "a"}', "bad_frame"),
        ('{"type": "message.send", "room": 1, "body": "hi", "client_id": ""}', "bad_frame"),
        (
            '{"type": "message.send", "room": 1, "body": "hi", "client_id": "' + "c" * 65 + '"}',
            "bad_frame",
        ),
        (
            '{"type": "message.send", "room": 99999999999999999999999, "body": "hi", '
            '"client_id": "a"}',
            "bad_frame",
        ),
        ('{"type": "message.read", "room": 1, "seq": -1}', "bad_frame"),
        ('{"type": "message.read", "room": 1, "seq": "3"}', "bad_frame"),
        ('{"type": "typing"}', "bad_frame"),
        ('{"type": "resume", "rooms": [1]}', "bad_frame"),
        ('{"type": "resume", "rooms": {"x": 1}}', "bad_frame"),
        ('{"type": "resume", "rooms": {"1": -3}}', "bad_frame"),
    ],
)
async def test_bad_frames_get_an_error_frame_and_the_socket_stays_open(
    connect, alice, room, raw, code
):
    a = await connect(alice)
    await a.send_raw(raw)
    error = await a.expect("error")
    assert error["code"] == code, error
    assert error["detail"]
    await a.send(type="ping")
    await a.expect("pong")
    assert await database_sync_to_async(Message.objects.count)() == 0


async def test_an_error_frame_carries_the_failing_client_id(connect, alice, carol, room):
    c = await connect(carol)
    await c.say(room.pk, "let me in", "intruder-1")
    error = await c.expect("error")
    assert error == {
        "type": "error",
        "code": "not_member",
        "detail": error["detail"],
        "client_id": "intruder-1",
    }


async def test_a_room_that_does_not_exist_looks_like_one_you_are_not_in(connect, alice, room):
    a = await connect(alice)
    await a.say(987654, "hello?", "x1")
    assert (await a.expect("error"))["code"] == "not_member"


async def test_an_over_long_body_is_too_long_and_nothing_is_stored(connect, alice, room):
    a = await connect(alice)
    await a.say(room.pk, "x" * 4001, "long")
    assert (await a.expect("error"))["code"] == "too_long"
    await a.say(room.pk, "  " + "y" * 4000 + "  ", "exact")
    ack = await a.expect("message.ack")
    assert ack["message"]["body"] == "  " + "y" * 4000 + "  "
    assert await database_sync_to_async(Message.objects.count)() == 1


async def test_a_muted_member_cannot_send(connect, alice, bob, room):
    await database_sync_to_async(room.memberships.filter(user=bob).update)(muted=True)
    b = await connect(bob)
    await b.say(room.pk, "hey", "m")
    error = await b.expect("error")
    assert error["code"] == "muted" and error["client_id"] == "m"


async def test_frames_over_64_kib_close_the_socket_with_1009(connect, alice, room):
    a = await connect(alice)
    await a.send_raw('{"type": "ping", "pad": "' + "x" * (64 * 1024) + '"}')
    closed = await a.communicator.receive_output(3)
    assert closed["type"] == "websocket.close" and closed["code"] == 1009


async def test_binary_frames_get_bad_frame(connect, alice):
    a = await connect(alice)
    await a.send_raw(data=b"\x00\x01")
    assert (await a.expect("error"))["code"] == "bad_frame"


async def test_a_flood_is_answered_with_rate_limited(connect, alice):
    a = await connect(alice)
    for _ in range(60):
        await a.send(type="ping")
    error = await a.expect("error")
    assert error["code"] == "rate_limited"


async def test_read_moves_the_marker_forward_only_and_tells_the_room(connect, alice, bob, room):
    for i in range(3):
        await database_sync_to_async(services.message_send)(
            user=alice, room_id=room.pk, body=f"m{i}", client_id=f"r{i}"
        )
    a, b = await connect(alice), await connect(bob)
    assert b.hello["rooms"][0]["unread"] == 3
    await b.send(type="message.read", room=room.pk, seq=2)
    read = await a.expect("read")
    assert read == {
        "type": "read",
        "room": room.pk,
        "user": {"id": bob.pk, "username": "bob"},
        "seq": 2,
    }
    await b.expect("read")  # the reader's own sockets learn it too
    await b.send(type="message.read", room=room.pk, seq=1)
    await a.quiet("read")
    membership = await database_sync_to_async(room.memberships.get)(user=bob)
    assert membership.last_read_seq == 2


async def test_typing_reaches_the_other_members_only(connect, alice, bob, carol, room):
    a, b, c = await connect(alice), await connect(bob), await connect(carol)
    await a.send(type="typing", room=room.pk)
    typing = await b.expect("typing")
    assert typing == {
        "type": "typing",
        "room": room.pk,
        "user": {"id": alice.pk, "username": "alice"},
    }
    await a.quiet("typing")
    await c.quiet("typing")


async def test_resume_replays_missed_messages_in_order_with_their_current_state(
    connect, alice, bob, room
):
    sent = []
    for i in range(5):
        message, _ = await database_sync_to_async(services.message_send)(
            user=alice, room_id=room.pk, body=f"m{i}", client_id=f"c{i}"
        )
        sent.append(message)
    await database_sync_to_async(services.message_delete)(user=alice, message_id=sent[3].pk)
    b = await connect(bob)
    await b.send(type="resume", rooms={str(room.pk): 2})
    replayed = [(await b.expect("message.new"))["message"] for _ in range(3)]
    assert [m["seq"] for m in replayed] == [3, 4, 5]
    assert replayed[1]["deleted"] is True and replayed[1]["body"] == ""
    done = await b.expect("resume.done")
    assert done == {"type": "resume.done", "rooms": {str(room.pk): 5}}


async def test_resume_truncates_a_gap_too_large_to_replay(connect, alice, bob, room, settings):
    settings.CHAT_RESUME_LIMIT = 3
    for i in range(5):
        await database_sync_to_async(services.message_send)(
            user=alice, room_id=room.pk, body=f"m{i}", client_id=f"t{i}"
        )
    b = await connect(bob)
    await b.send(type="resume", rooms={str(room.pk): 0})
    done = await b.expect("resume.done")
    assert done["truncated"] == [room.pk] and done["rooms"] == {}
    await b.quiet("message.new")


async def test_resume_of_a_room_one_is_not_in_reports_not_member(connect, alice, carol, room):
    c = await connect(carol)
    await c.send(type="resume", rooms={str(room.pk): 0})
    assert (await c.expect("error"))["code"] == "not_member"
    assert (await c.expect("resume.done"))["rooms"] == {}


async def test_presence_tells_roommates_when_a_user_comes_and_goes(
    connect, alice, bob, carol, room
):
    a = await connect(alice)
    c = await connect(carol)
    b = await connect(bob)
    online = await a.expect("presence")
    assert online == {
        "type": "presence",
        "user": {"id": bob.pk, "username": "bob"},
        "status": "online",
    }
    await c.quiet("presence")
    await b.close()
    offline = await a.expect("presence")
    assert offline["status"] == "offline" and offline["user"]["id"] == bob.pk


async def test_a_member_added_while_connected_joins_the_room_at_once(connect, alice, carol, room):
    c = await connect(carol)
    await database_sync_to_async(services.membership_add)(
        actor=alice, room_id=room.pk, user_id=carol.pk
    )
    joined = await c.expect("room.joined")
    assert joined["room"] == {
        "id": room.pk,
        "name": "general",
        "last_seq": 0,
        "last_read_seq": 0,
        "unread": 0,
    }
    a = await connect(alice)
    await a.say(room.pk, "welcome carol", "w")
    assert (await c.expect("message.new"))["message"]["body"] == "welcome carol"


async def test_a_membership_whose_joined_event_is_still_on_its_way_is_honoured(
    connect, alice, carol, room
):
    a, c = await connect(alice), await connect(carol)
    assert c.hello["rooms"] == []
    # Stored without its event, as when a client creates a room over REST and
    # sends before the channel layer has brought "joined" to its socket's node.
    await database_sync_to_async(Membership.objects.create)(room=room, user=carol)
    await a.say(room.pk, "before", "b")
    await a.expect("message.ack")

    await c.send(type="typing", room=room.pk)
    assert (await a.expect("typing"))["user"]["id"] == carol.pk
    await c.send(type="resume", rooms={str(room.pk): 0})
    assert (await c.expect("message.new"))["message"]["body"] == "before"
    assert (await c.expect("resume.done"))["rooms"] == {str(room.pk): 1}
    await c.send(type="message.read", room=room.pk, seq=1)
    assert (await a.expect("read"))["user"]["id"] == carol.pk
    await c.say(room.pk, "first words", "c-1")
    assert (await c.expect("message.ack"))["message"]["seq"] == 2
    new = await a.expect("message.new", where=lambda f: f["message"]["seq"] == 2)
    assert new["message"]["body"] == "first words"
    await a.say(room.pk, "welcome", "w")
    new = await c.expect("message.new", where=lambda f: f["message"]["seq"] == 3)
    assert new["message"]["body"] == "welcome"


async def test_a_removed_member_stops_receiving_the_room_at_once(connect, alice, bob, room):
    a, b = await connect(alice), await connect(bob)
    await database_sync_to_async(services.membership_remove)(
        actor=alice, room_id=room.pk, user_id=bob.pk
    )
    left = await b.expect("room.left")
    assert left["room"]["id"] == room.pk
    await a.say(room.pk, "bob is gone", "g")
    await a.expect("message.ack")
    await b.quiet("message.new")
    await b.say(room.pk, "wait", "w")
    assert (await b.expect("error"))["code"] == "not_member"


async def test_a_deactivated_user_is_disconnected_at_once(connect, make_user, alice, bob, room):
    moderator = await database_sync_to_async(make_user)("mod", is_staff=True)
    b = await connect(bob)
    await database_sync_to_async(services.user_deactivate)(actor=moderator, user=bob)
    with pytest.raises(ConnectionError, match="4003"):
        await b.expect("message.new")


async def test_edits_and_deletions_reach_members_as_message_updated(connect, alice, bob, room):
    a, b = await connect(alice), await connect(bob)
    await a.say(room.pk, "tpyo", "e")
    message_id = (await a.expect("message.ack"))["message"]["id"]
    await database_sync_to_async(services.message_edit)(
        user=alice, message_id=message_id, body="typo"
    )
    edited = await b.expect("message.updated")
    assert edited["message"]["body"] == "typo" and edited["message"]["edited_at"]
    await database_sync_to_async(services.message_delete)(user=alice, message_id=message_id)
    deleted = await b.expect("message.updated", where=lambda f: f["message"]["deleted"])
    assert deleted["message"]["body"] == "" and deleted["message"]["seq"] == 1


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"authorization", b"Token " + b"0" * 40)],
        [(b"authorization", b"Bearer whatever")],
    ],
)
async def test_handshakes_without_valid_credentials_are_refused(connect, headers):
    # A close before accept; daphne turns it into HTTP 403 (tests/e2e checks that).
    client = await connect(headers=headers, expect_hello=False)
    assert client.connected is False


async def test_a_foreign_origin_is_refused_even_with_a_valid_token(connect, alice):
    from rest_framework.authtoken.models import Token

    token, _ = await database_sync_to_async(Token.objects.get_or_create)(user=alice)
    headers = [
        (b"authorization", f"Token {token.key}".encode()),
        (b"origin", b"http://evil.example"),
    ]
    client = await connect(headers=headers, expect_hello=False)
    assert client.connected is False


async def test_an_allowed_origin_is_accepted(connect, alice):
    from rest_framework.authtoken.models import Token

    token, _ = await database_sync_to_async(Token.objects.get_or_create)(user=alice)
    headers = [
        (b"authorization", f"Token {token.key}".encode()),
        (b"origin", b"http://localhost:8000"),
    ]
    client = await connect(headers=headers)
    assert client.hello["user"]["username"] == "alice"


async def test_a_deactivated_users_token_is_refused_at_the_handshake(connect, make_user):
    dora = await database_sync_to_async(make_user)("dora", is_active=False)
    from rest_framework.authtoken.models import Token

    token = await database_sync_to_async(Token.objects.create)(user=dora)
    client = await connect(
        headers=[(b"authorization", f"Token {token.key}".encode())], expect_hello=False
    )
    assert client.connected is False


async def test_sockets_beyond_the_per_user_limit_are_closed(connect, alice, settings):
    settings.CHAT_MAX_SOCKETS_PER_USER = 2
    await connect(alice)
    await connect(alice)
    third = await connect(alice, expect_hello=False)
    closed = await third.communicator.receive_output(3)
    assert closed["type"] == "websocket.close" and closed["code"] == 4029
