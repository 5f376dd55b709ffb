"""REST calls to a real daphne process reach websocket clients (docs/rest.md)."""

import asyncio
import uuid

import httpx
import pytest

from tests.live import LiveStack
from tests.wsclient import WsClient

pytestmark = pytest.mark.live


@pytest.fixture(scope="module", params=[("sqlite", "memory"), ("postgres", "redis")], ids="-".join)
def node(request):
    """One daphne node per database and layer, shared by this module's tests.

    ``node.users`` holds alice, bob and carol; each test makes its own rooms over REST.
    """
    db, layer = request.param
    stack = LiveStack(db=db, layer=layer)
    try:
        users = {name: stack.create_user(name) for name in ("alice", "bob", "carol")}
        daphne = stack.start_daphne()
        daphne.users, daphne.stack = users, stack
        yield daphne
    finally:
        stack.stop()


def api(node, user):
    return httpx.AsyncClient(
        base_url=node.base_url, headers={"Authorization": f"Token {user['token']}"}, timeout=20
    )


async def make_room(node, owner, members):
    async with api(node, owner) as client:
        response = await client.post(
            "/api/rooms/", json={"name": "general", "members": [m["id"] for m in members]}
        )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_a_rest_send_reaches_the_other_members_socket(node):
    alice, bob, carol = (node.users[n] for n in ("alice", "bob", "carol"))
    room = await make_room(node, alice, [bob])
    b = await WsClient.open(node.ws_url, bob["token"])
    c = await WsClient.open(node.ws_url, carol["token"])
    try:
        async with api(node, alice) as client:
            login = await client.post(
                "/api/auth/token/", json={"username": "alice", "password": alice["password"]}
            )
            assert login.json() == {"token": alice["token"]}
            body = {"body": "sent over HTTP", "client_id": "rest-1"}
            sent = await client.post(f"/api/rooms/{room}/messages/", json=body)
            assert sent.status_code == 201, sent.text
            frame = await b.expect("message.new")
            assert frame["message"] == sent.json()
            assert frame["message"]["author"] == {"id": alice["id"], "username": "alice"}
            again = await client.post(f"/api/rooms/{room}/messages/", json=body)
            assert again.status_code == 200 and again.json()["id"] == sent.json()["id"]
            await b.quiet("message.new")
            await c.quiet("message.new")
            page = await client.get(f"/api/rooms/{room}/messages/")
            assert [m["body"] for m in page.json()["results"]] == ["sent over HTTP"]
    finally:
        await b.close()
        await c.close()


async def test_a_send_racing_itself_stores_and_broadcasts_one_message(node):
    alice, bob = node.users["alice"], node.users["bob"]
    room = await make_room(node, alice, [bob])
    b = await WsClient.open(node.ws_url, bob["token"])
    try:
        body = {"body": "only once", "client_id": uuid.uuid4().hex}
        async with api(node, alice) as client:
            answers = await asyncio.gather(
                *(client.post(f"/api/rooms/{room}/messages/", json=body) for _ in range(8))
            )
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200] * 7 + [201], [r.text for r in answers]
        assert len({r.json()["id"] for r in answers}) == 1
        assert (await b.expect("message.new"))["message"]["seq"] == 1
        await b.quiet("message.new", seconds=1.0)
    finally:
        await b.close()


async def test_both_users_asking_for_their_direct_room_at_once_get_one_room(node):
    alice, bob = node.users["alice"], node.users["carol"]
    async with api(node, alice) as a, api(node, bob) as b:
        answers = await asyncio.gather(
            *(
                client.post("/api/rooms/direct/", json={"user": other["id"]})
                for client, other in [(a, bob), (b, alice)] * 4
            )
        )
    assert all(r.status_code in (200, 201) for r in answers), [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert [r.status_code for r in answers].count(201) == 1


async def test_with_redis_the_send_limit_holds_across_daphne_processes(live_stack):
    # Only with Redis: without it each process counts on its own (docs/rest.md, Throttling).
    stack = live_stack(db="postgres", layer="redis")
    alice, bob = stack.create_user("alice"), stack.create_user("bob")
    room = stack.create_room("general", alice, [bob])
    limited = {"THROTTLE_SEND": "3/min"}
    first, second = (stack.start_daphne(env=limited) for _ in range(2))
    statuses = []
    for i, target in enumerate([first, second, first, second]):
        async with api(target, bob) as client:
            body = {"body": f"n{i}", "client_id": uuid.uuid4().hex}
            response = await client.post(f"/api/rooms/{room}/messages/", json=body)
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) > 0
    assert statuses == [201, 201, 201, 429]
