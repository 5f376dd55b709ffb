"""REST actions reach websocket clients exactly as websocket actions do.

REST calls go through the same ASGI application as the sockets (httpx's ASGI
transport), so the after-commit fan-out runs as it does under daphne.
"""

import httpx
import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from django.core.cache import caches
from rest_framework.authtoken.models import Token

from chat import services, signals

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def cheap_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest_asyncio.fixture
async def rest():
    """``await rest(user)`` is an HTTP client of the ASGI app carrying the user's token."""
    from chatproject.asgi import application

    await database_sync_to_async(caches["throttle"].clear)()
    clients = []

    async def build(user):
        token, _ = await database_sync_to_async(Token.objects.get_or_create)(user=user)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application),
            base_url="http://localhost",
            headers={"Authorization": f"Token {token.key}"},
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


async def test_a_rest_send_reaches_every_members_sockets_once(connect, rest, alice, bob, room):
    a, b = await connect(alice), await connect(bob)
    sent = []
    signals.message_sent.connect(
        lambda **kw: sent.append(kw["message"].pk), weak=False, dispatch_uid="t-rest-sent"
    )
    try:
        client = await rest(alice)
        body = {"body": "from my phone", "client_id": "r-1"}
        response = await client.post(f"/api/rooms/{room.pk}/messages/", json=body)
        assert response.status_code == 201
        frame = await b.expect("message.new")
        assert frame["message"] == response.json()
        assert (await a.expect("message.new"))["message"]["id"] == response.json()["id"]
        again = await client.post(f"/api/rooms/{room.pk}/messages/", json=body)
        assert again.status_code == 200
        await b.quiet("message.new")
    finally:
        signals.message_sent.disconnect(dispatch_uid="t-rest-sent")
    assert sent == [response.json()["id"]]


async def test_rest_edits_and_deletions_reach_sockets_as_message_updated(
    connect, rest, alice, bob, room
):
    message, _ = await database_sync_to_async(services.message_send)(
        user=alice, room_id=room.pk, body="typo", client_id="e-1"
    )
    b = await connect(bob)
    client = await rest(alice)
    edited = await client.patch(f"/api/messages/{message.pk}/", json={"body": "fixed"})
    assert edited.status_code == 200
    frame = await b.expect("message.updated")
    assert frame["message"]["body"] == "fixed" and frame["message"]["edited_at"]
    assert (await client.delete(f"/api/messages/{message.pk}/")).status_code == 200
    frame = await b.expect("message.updated", where=lambda f: f["message"]["deleted"])
    assert frame["message"]["body"] == "" and frame["message"]["seq"] == 1


async def test_a_rest_read_marker_tells_the_room(connect, rest, alice, bob, room):
    await database_sync_to_async(services.message_send)(
        user=alice, room_id=room.pk, body="read me", client_id="r-2"
    )
    a = await connect(alice)
    response = await (await rest(bob)).post(f"/api/rooms/{room.pk}/read/", json={"seq": 1})
    assert response.status_code == 200
    frame = await a.expect("read")
    assert frame == {
        "type": "read",
        "room": room.pk,
        "user": {"id": bob.pk, "username": "bob"},
        "seq": 1,
    }


async def test_a_member_added_over_rest_joins_at_once_and_receives_the_room(
    connect, rest, alice, carol, room
):
    c = await connect(carol)
    owner = await rest(alice)
    response = await owner.post(f"/api/rooms/{room.pk}/members/", json={"user": carol.pk})
    assert response.status_code == 201
    joined = await c.expect("room.joined")
    assert joined["room"]["id"] == room.pk and joined["room"]["name"] == "general"
    await owner.post(f"/api/rooms/{room.pk}/messages/", json={"body": "welcome", "client_id": "w"})
    assert (await c.expect("message.new"))["message"]["body"] == "welcome"


async def test_a_member_removed_over_rest_leaves_at_once_and_hears_nothing_more(
    connect, rest, alice, bob, room
):
    b = await connect(bob)
    owner = await rest(alice)
    response = await owner.delete(f"/api/rooms/{room.pk}/members/{bob.pk}/")
    assert response.status_code == 204
    assert (await b.expect("room.left"))["room"]["id"] == room.pk
    await owner.post(f"/api/rooms/{room.pk}/messages/", json={"body": "secret", "client_id": "s"})
    await b.quiet("message.new", seconds=0.5)


async def test_a_direct_room_over_rest_joins_both_users_sockets(connect, rest, alice, bob):
    a, b = await connect(alice), await connect(bob)
    response = await (await rest(alice)).post("/api/rooms/direct/", json={"user": bob.pk})
    assert response.status_code == 201
    for client in (a, b):
        assert (await client.expect("room.joined"))["room"]["id"] == response.json()["id"]
