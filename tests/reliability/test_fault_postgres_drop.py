"""PostgreSQL connections dropped under load (docs/reliability.md, "Faults").

daphne reaches PostgreSQL through a TCP proxy owned by the test. Mid-load the
proxy aborts every connection and refuses new ones for two seconds. Sends in
that window get a clear ``unavailable`` error frame with their client_id, the
sockets stay open, nothing is half-stored (seqs stay gapless), and once the
database is reachable again the same daphne serves everything, without a restart.
"""

import asyncio
from urllib.parse import urlsplit

import pytest

from tests.live import POSTGRES_URL, need
from tests.reliability.faults import (
    Peer,
    TcpProxy,
    assert_holds_exactly,
    populate,
    stored_messages,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]


@pytest.fixture
def postgres_proxy():
    need("postgres")
    parts = urlsplit(POSTGRES_URL)
    proxy = TcpProxy(parts.port or 5432, parts.hostname)
    yield proxy
    proxy.close()


def _through(proxy, database_url):
    parts = urlsplit(database_url)
    user = f"{parts.username}@" if parts.username else ""
    return parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}").geturl()


async def test_sends_fail_clearly_while_postgres_is_unreachable_and_recover_without_a_restart(
    live_stack, postgres_proxy
):
    stack = live_stack(db="postgres")
    users, room = populate(stack, ["alice", "bob"])
    node = stack.start_daphne(
        env={"DATABASE_URL": _through(postgres_proxy, stack.env["DATABASE_URL"])}
    )
    alice = await Peer("alice", users[0]["token"]).connect(node.ws_url)
    bob = await Peer("bob", users[1]["token"]).connect(node.ws_url)
    loop = asyncio.get_running_loop()
    sent = []  # (client_id, phase)
    phase = "before"

    async def load():
        while phase != "stop":
            sent.append((await alice.say(room, f"load {len(sent)}"), phase))
            await asyncio.sleep(0.08)

    try:
        loader = asyncio.create_task(load())
        await asyncio.sleep(1.5)
        phase = "outage"
        postgres_proxy.refuse()
        postgres_proxy.cut()
        await asyncio.sleep(2)
        postgres_proxy.refuse(False)
        phase = "after"
        started_after = loop.time()
        await asyncio.sleep(2.5)
        phase = "stop"
        await loader

        answers = {cid: await alice.acked(cid, timeout=15) for cid, _ in sent}
        refused = {cid for cid, frame in answers.items() if frame["type"] == "error"}
        for frame in answers.values():
            if frame["type"] == "error":
                assert frame["code"] == "unavailable", frame
        outage = [cid for cid, p in sent if p == "outage"]
        assert refused & set(outage), "no send was refused while PostgreSQL was unreachable"
        # Recovery: the sends of the last second all went through.
        late = [cid for cid, p in sent if p == "after"][-8:]
        assert late and not refused & set(late), f"still refusing after recovery: {answers}"
        assert loop.time() - started_after < 30
        assert alice.open and bob.open, "a socket closed during the outage"

        # The client retries what was refused, with the same client_ids.
        alice.errors.clear()
        for cid in sorted(refused):
            await alice.say(room, "retried", cid)
        for cid in refused:
            assert (await alice.acked(cid, timeout=15))["type"] == "message.ack"

        stored = stored_messages(stack, room)
        assert sorted(v[1] for v in stored.values()) == sorted(cid for cid, _ in sent)
        assert sorted(stored) == list(range(1, len(sent) + 1)), "a seq gap: half-stored sends"
        for peer in (alice, bob):
            await peer.resume()
            await peer.wait_complete(room, len(stored))
            assert_holds_exactly(peer, room, stored)
        assert node.alive()
        assert "Exception inside application" not in node.output()
    finally:
        for peer in (alice, bob):
            await peer.close()
        node.stop()  # while the proxy still forwards, so that shutdown can reach the database
