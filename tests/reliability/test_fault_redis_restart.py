"""Redis restarted while clients chat (docs/reliability.md, "Faults").

Redis carries the channel layer between two daphne nodes and the Celery
broker. While it is down, sends are still stored and acked (the database is
the source of truth), sockets stay open, and after it returns every client
holds every message exactly once by ``resume``.
"""

import asyncio

import pytest

from tests.live import need
from tests.reliability.faults import (
    Peer,
    PrivateRedis,
    assert_holds_exactly,
    populate,
    stored_messages,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]


@pytest.fixture
def private_redis():
    redis = PrivateRedis().start()
    yield redis
    redis.close()


async def _send_round(peers, room, label, *, ack_timeout=15):
    """Each peer sends one message; returns how long the slowest ack took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    sent = [(peer, await peer.say(room, f"{label} from {peer.name}")) for peer in peers]
    for peer, client_id in sent:
        assert (await peer.acked(client_id, timeout=ack_timeout))["type"] == "message.ack"
    return loop.time() - started


async def test_chat_survives_a_redis_restart_and_every_client_ends_complete(
    live_stack, private_redis
):
    need("postgres")
    stack = live_stack(db="postgres", layer="redis", redis_url=private_redis.url)
    users, room = populate(stack, ["alice", "bob", "carol"])
    first, second = stack.start_daphne(), stack.start_daphne()
    worker = stack.start_worker()
    peers = [
        await Peer("alice", users[0]["token"]).connect(first.ws_url),
        await Peer("bob", users[1]["token"]).connect(second.ws_url),
        await Peer("carol", users[2]["token"]).connect(first.ws_url),
    ]
    try:
        for i in range(3):
            await _send_round(peers, room, f"before {i}")
        for peer in peers:
            await peer.wait_complete(room, 9)

        private_redis.kill()
        for i in range(4):
            slowest = await _send_round(peers, room, f"during {i}")
            assert slowest < 10, f"a send took {slowest:.1f}s to be acked with Redis down"
        assert all(peer.open for peer in peers), "a socket closed while Redis was down"

        private_redis.start()
        await asyncio.sleep(3)  # one hub heartbeat: the groups are subscribed again
        for i in range(3):
            await _send_round(peers, room, f"after {i}")
        for peer in peers:
            assert peer.open, f"{peer.name}'s socket closed"
            await peer.resume()
        stored = stored_messages(stack, room)
        assert len(stored) == 30
        for peer in peers:
            await peer.wait_complete(room, 30)
            assert_holds_exactly(peer, room, stored)
            assert peer.errors == []
        assert first.alive() and second.alive()
        assert worker.alive(), f"the Celery worker died:\n{worker.output()[-3000:]}"
        for process in (first, second, worker):  # secrets stay out of the logs
            log = process.output()
            assert " from alice" not in log and not [u for u in users if u["token"] in log]
    finally:
        for peer in peers:
            await peer.close()
