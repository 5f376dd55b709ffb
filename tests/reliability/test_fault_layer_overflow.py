"""A burst larger than the channel layer's capacity (docs/reliability.md, "Faults").

With ``CHANNEL_CAPACITY=2``, one daphne node is paused (SIGSTOP, as a long
GC pause or a starved CPU would) while a burst of messages is stored from
another process: its channel overflows and the Redis layer drops all but two
events, the tail of the burst included. Every client must still end with
every message exactly once, without doing anything: the node's hub finds the
gaps by seq, in the middle when the next event arrives and at the end on its
heartbeat, and refills them from the database.
"""

import asyncio
import signal

import pytest

from tests.live import need
from tests.reliability.faults import Peer, assert_holds_exactly, populate, stored_messages

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

BURST = 60


def _burst(stack, room, author_id):
    """BURST messages stored and published as fast as one process can (no websocket pacing)."""
    stack.shell(
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from chat import services\n"
        f"author = get_user_model().objects.get(pk={author_id})\n"
        f"for i in range({BURST}):\n"
        f"    services.message_send(user=author, room_id={room}, body=f'burst {{i}}', "
        "client_id=f'burst-{i}')\n"
        "print(json.dumps(True))"
    )


async def test_every_client_ends_complete_after_a_burst_beyond_layer_capacity(live_stack):
    need("postgres")
    need("redis")
    stack = live_stack(db="postgres", layer="redis", env={"CHANNEL_CAPACITY": "2"})
    users, room = populate(stack, ["alice", "bob", "carol", "dave"])
    first, second = stack.start_daphne(), stack.start_daphne()
    peers = [
        await Peer(user["username"], user["token"]).connect(node.ws_url)
        for user, node in zip(users, (first, second, first, second), strict=True)
    ]
    try:
        first.signal(signal.SIGSTOP)
        try:
            await asyncio.to_thread(_burst, stack, room, users[0]["id"])
        finally:
            first.signal(signal.SIGCONT)
        stored = stored_messages(stack, room)
        assert len(stored) == BURST
        for peer in peers:
            await peer.wait_complete(room, BURST, timeout=20)
            assert_holds_exactly(peer, room, stored)
        assert "refilled" in first.output(), "the paused node lost nothing: no overflow happened"
    finally:
        for peer in peers:
            await peer.close()
