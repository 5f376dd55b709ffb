"""A daphne node killed while clients chat through it (docs/reliability.md, "Faults").

Two nodes share PostgreSQL and a Redis channel layer. The node holding two of
the three clients is SIGKILLed mid-conversation. Those clients reconnect to
the other node, re-send what was not acked (same client_id) and resume: in
the end every client holds every message exactly once and nothing was stored twice.
"""

import asyncio

import pytest
import websockets

from tests.live import need
from tests.reliability.faults import Peer, assert_holds_exactly, populate, stored_messages

pytestmark = [pytest.mark.reliability, pytest.mark.slow]


async def _reconnect(peer, url, *, timeout=20):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await peer.connect(url, timeout=5)
        except (OSError, TimeoutError):
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_clients_of_a_killed_node_reconnect_to_the_other_and_miss_nothing(live_stack):
    need("postgres")
    need("redis")
    stack = live_stack(db="postgres", layer="redis")
    users, room = populate(stack, ["alice", "bob", "carol"])
    doomed, survivor = stack.start_daphne(), stack.start_daphne()
    alice = await Peer("alice", users[0]["token"]).connect(doomed.ws_url)
    bob = await Peer("bob", users[1]["token"]).connect(survivor.ws_url)
    carol = await Peer("carol", users[2]["token"]).connect(doomed.ws_url)
    peers = (alice, bob, carol)
    sent = {alice: [], bob: []}
    running = True

    async def chat(peer, every):
        while running:
            if peer.open:
                client_id = f"{peer.name}-{len(sent[peer])}"
                sent[peer].append(client_id)
                try:
                    await peer.say(room, f"message {client_id}", client_id)
                except websockets.ConnectionClosed:
                    pass  # re-sent after the reconnect, like any unacked send
            await asyncio.sleep(every)

    try:
        talkers = [asyncio.create_task(chat(alice, 0.1)), asyncio.create_task(chat(bob, 0.07))]
        await asyncio.sleep(1.5)
        doomed.kill()
        await asyncio.sleep(0.2)
        assert not alice.open and not carol.open
        for peer in (alice, carol):
            await _reconnect(peer, survivor.ws_url)
            await peer.resume()
        # Whatever alice sent that was never acked, she sends again, as a client would.
        unacked = [cid for cid in sent[alice] if cid not in alice.acks]
        for cid in unacked:
            await alice.say(room, "again", cid)
        await asyncio.sleep(1.5)
        running = False
        await asyncio.gather(*talkers)

        for peer, client_ids in sent.items():
            for cid in client_ids:
                assert (await peer.acked(cid, timeout=15))["type"] == "message.ack"
        stored = stored_messages(stack, room)
        every_send = sent[alice] + sent[bob]
        assert sorted(v[1] for v in stored.values()) == sorted(every_send), "lost or doubled"
        for peer in peers:
            await peer.resume()
            await peer.wait_complete(room, len(stored))
            assert_holds_exactly(peer, room, stored)
        assert survivor.alive()
        for node in (doomed, survivor):  # secrets stay out of the logs
            log = node.output()
            assert "message alice-" not in log and "message bob-" not in log
            assert not [u for u in users if u["token"] in log]
    finally:
        for peer in peers:
            await peer.close()
