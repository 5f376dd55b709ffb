"""Real daphne processes on PostgreSQL and Redis: several nodes, reconnects, concurrency."""

import asyncio

import pytest
import websockets

from tests.wsclient import WsClient


@pytest.fixture
def pg_redis(live_stack):
    return live_stack(db="postgres", layer="redis")


async def test_an_unauthenticated_handshake_is_refused_with_http_403(live_stack):
    node = live_stack().start_daphne()
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(node.ws_url, open_timeout=10):
            pass
    assert refused.value.response.status_code == 403


async def test_clients_on_two_nodes_chat_with_each_other(pg_redis):
    alice, bob = pg_redis.create_user("alice"), pg_redis.create_user("bob")
    room = pg_redis.create_room("two nodes", alice, [bob])
    one, two = pg_redis.start_daphne(), pg_redis.start_daphne()
    a = await WsClient.open(one.ws_url, alice["token"])
    b = await WsClient.open(two.ws_url, bob["token"])
    try:
        await a.say(room, "from node one")
        assert (await b.expect("message.new"))["message"]["body"] == "from node one"
        await b.say(room, "from node two")
        got = await a.expect("message.new", where=lambda f: f["message"]["seq"] == 2)
        assert got["message"]["body"] == "from node two"
        await b.send(type="typing", room=room)
        assert (await a.expect("typing"))["user"]["username"] == "bob"
    finally:
        await a.close()
        await b.close()


async def test_a_client_that_reconnects_resumes_with_every_message_exactly_once(pg_redis):
    alice, bob = pg_redis.create_user("alice"), pg_redis.create_user("bob")
    room = pg_redis.create_room("resume", alice, [bob])
    node = pg_redis.start_daphne()
    a = await WsClient.open(node.ws_url, alice["token"])
    b = await WsClient.open(node.ws_url, bob["token"])
    try:
        for i in range(5):
            await a.say(room, f"before {i}")
        for _ in range(5):
            await b.expect("message.new")
        last_seen = 5
        await b.close()  # bob drops mid-stream
        for i in range(7):
            await a.say(room, f"while away {i}")
        for _ in range(12):
            await a.expect("message.ack")
        b = await WsClient.open(node.ws_url, bob["token"])
        assert b.hello["rooms"][0]["last_seq"] == 12
        for i in range(3):
            await a.say(room, f"after {i}")
        await b.send(type="resume", rooms={str(room): last_seen})
        done = await b.expect("resume.done")
        assert done["rooms"][str(room)] >= 12
        await b.drain(1.0)
        delivered = [m["seq"] for m in b.messages(room)]
        assert set(delivered) == set(range(6, 16)), delivered  # nothing missing, nothing stale
        held = [m["seq"] for m in b.held(room)]
        assert held == list(range(6, 16)), held
    finally:
        await a.close()
        await b.close()


async def test_concurrent_senders_on_two_nodes_get_gapless_seqs_and_everyone_gets_all(pg_redis):
    users = [pg_redis.create_user(f"user{i}") for i in range(6)]
    room = pg_redis.create_room("busy", users[0], users[1:])
    nodes = [pg_redis.start_daphne(), pg_redis.start_daphne()]
    clients = [
        await WsClient.open(nodes[i % 2].ws_url, user["token"]) for i, user in enumerate(users)
    ]
    per_client = 15
    total = per_client * len(clients)
    try:

        async def send_all(client, index):
            for n in range(per_client):
                await client.say(room, f"{index}-{n}", client_id=f"{index}-{n}")

        await asyncio.gather(*(send_all(c, i) for i, c in enumerate(clients)))

        async def collect(client):
            received = {}
            while len(received) < total:
                frame = await client.expect("message.new", timeout=15)
                received[frame["message"]["seq"]] = frame["message"]
            return received

        results = await asyncio.gather(*(collect(c) for c in clients))
        for received in results:
            assert sorted(received) == list(range(1, total + 1))
        stored = pg_redis.shell(
            "import json\nfrom chat.models import Message\n"
            "print(json.dumps(list(Message.objects.order_by('seq').values_list('seq', flat=True))))"
        )
        assert stored == list(range(1, total + 1))
    finally:
        for client in clients:
            await client.close()
