"""Fan-out: one room, its members connected, a few of them sending at a paced rate.

The offered rate is stepped up until the server falls behind. At each step
every sender sends on a fixed schedule (open loop: a slow server does not
slow the senders down), and every member must receive every message once.
A step passes when nothing is lost and the p99 send-to-receive latency is
within the limit; the capacity is the highest delivered rate of a passing step.
"""

import asyncio
import gc
import itertools
import os
import time

from .loadclient import client_id_of, percentile

PROJECT_PREFIX = b'{"type":"message.new"'
RELAY_PREFIX = b'{"type":"message.send"'
ERROR_PREFIX = b'{"type":"error"'

# Fine steps below 10,000/s, where the Channels servers fail on a 2-core
# machine: a coarse step there makes a capacity ratio mostly rounding.
DEFAULT_STEPS = (
    1_000,
    2_000,
    3_000,
    4_000,
    5_000,
    6_000,
    7_000,
    8_000,
    9_000,
    10_000,
    12_000,
    14_000,
    16_000,
    20_000,
    25_000,
    30_000,
    35_000,
    40_000,
    50_000,
    60_000,
    70_000,
    80_000,
    90_000,
    100_000,
    120_000,
)


def cpu_seconds(pid):
    """User plus system CPU time of a process (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FanoutRoom:
    """The members' connections of one room, and the tracking of one step."""

    def __init__(self, members, senders, room_id, *, delivery_prefix, server_pids=()):
        self.members = members
        self.senders = senders
        self.room_id = room_id
        self.prefix = delivery_prefix
        self.server_pids = list(server_pids)
        self.ids = itertools.count()
        self.errors = []
        self._reset()
        for conn in members:
            conn.on_text = self.on_text

    def _reset(self):
        self.sent_at = {}
        self.latencies = []
        self.delivered = 0
        self.duplicates = 0
        self.unexpected = 0
        self.error_count = 0
        self.first_send = None
        self.last_delivery = None
        for conn in self.members:
            conn.seen = set()

    # --- receiving -----------------------------------------------------

    def on_text(self, conn, data, now):
        if data.startswith(self.prefix):
            cid = client_id_of(data)
            sent = self.sent_at.get(cid)
            if sent is None:
                self.unexpected += 1
                return
            if cid in conn.seen:
                self.duplicates += 1
                return
            conn.seen.add(cid)
            self.delivered += 1
            self.latencies.append(now - sent)
            self.last_delivery = now
        elif data.startswith(ERROR_PREFIX):
            self.error_count += 1
            if len(self.errors) < 5:
                self.errors.append(data.decode(errors="replace")[:200])

    # --- sending -------------------------------------------------------

    async def _pace(self, conn, index, per_sender, start, duration, tag):
        """Send ``per_sender`` messages a second, staggered against the other senders."""
        offset = index / len(self.senders)
        k = 0
        end = start + duration
        room = self.room_id
        while True:
            due = start + (k + offset) / per_sender
            if due >= end:
                return
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(due - now)
                now = time.monotonic()
            # Send everything that is due (catches up after a late wake-up).
            while due <= now and due < end:
                cid = f"{tag}-{index}-{k}-{next(self.ids)}"
                frame = (
                    f'{{"type":"message.send","room":{room},'
                    f'"body":"message {k} from sender {index}","client_id":"{cid}"}}'
                )
                self.sent_at[cid] = time.monotonic()
                conn.send_text(frame)
                k += 1
                due = start + (k + offset) / per_sender

    async def run_step(self, rate, *, duration, tag, drain=10.0, latency_limit=0.100):
        """Offer ``rate`` deliveries a second for ``duration`` seconds; returns the figures."""
        self._reset()
        # The client's own collector pauses (over 100 ms once the idle runs have
        # grown its heap) would count as server latency: none during a step.
        gc.collect()
        gc.disable()
        try:
            return await self._run_step(rate, duration, tag, drain, latency_limit)
        finally:
            gc.enable()

    async def _run_step(self, rate, duration, tag, drain, latency_limit):
        members, senders = len(self.members), len(self.senders)
        per_sender = rate / members / senders
        server_cpu = sum(cpu_seconds(p) for p in self.server_pids)
        client_cpu = time.process_time()
        start = time.monotonic() + 0.02
        self.first_send = start
        await asyncio.gather(
            *(
                self._pace(conn, i, per_sender, start, duration, tag)
                for i, conn in enumerate(self.senders)
            )
        )
        sent = len(self.sent_at)
        expected = sent * members
        # Wait for the stragglers; give up only once nothing has arrived for ``drain`` seconds.
        last_count, last_progress = -1, time.monotonic()
        while self.delivered < expected:
            await asyncio.sleep(0.05)
            if self.delivered != last_count:
                last_count, last_progress = self.delivered, time.monotonic()
            elif time.monotonic() - last_progress > drain:
                break
        wall = max((self.last_delivery or time.monotonic()) - start, duration)
        server_cpu = sum(cpu_seconds(p) for p in self.server_pids) - server_cpu
        client_cpu = time.process_time() - client_cpu
        latencies = sorted(self.latencies)
        lost = expected - self.delivered
        p99 = percentile(latencies, 0.99)
        result = {
            "offered_per_s": rate,
            "messages_sent": sent,
            "deliveries_expected": expected,
            "deliveries": self.delivered,
            "lost": lost,
            "duplicates": self.duplicates,
            "unexpected": self.unexpected,
            "errors": self.error_count,
            "delivered_per_s": round(self.delivered / wall),
            "p50_ms": _ms(percentile(latencies, 0.50)),
            "p99_ms": _ms(p99),
            "max_ms": _ms(latencies[-1] if latencies else None),
            "server_cpu": round(server_cpu / wall, 2),
            # Robust to other load on the machine: CPU the server spent per frame delivered.
            "server_cpu_us_per_delivery": round(server_cpu * 1e6 / self.delivered, 1)
            if self.delivered
            else None,
            "deliveries_per_server_cpu_s": round(self.delivered / server_cpu)
            if server_cpu
            else None,
            "client_cpu": round(client_cpu / wall, 2),
        }
        result["passed"] = (
            lost == 0 and self.duplicates == 0 and p99 is not None and p99 <= latency_limit
        )
        return result


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000, 2)


async def sweep(room, steps, *, duration, settle=0.5, latency_limit=0.100, log=print):
    """Step the rate up until a step fails; returns (steps, capacity, figures at 5,000/s)."""
    await room.run_step(min(steps[0], 1000), duration=1.0, tag="warm", latency_limit=10)
    results = []
    for i, rate in enumerate(steps):
        result = await room.run_step(
            rate, duration=duration, tag=f"s{i}", latency_limit=latency_limit
        )
        results.append(result)
        log(
            f"    {rate:>7,}/s offered: {result['delivered_per_s']:>7,}/s delivered, "
            f"lost {result['lost']}, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
            f"server cpu {result['server_cpu']} ({result['server_cpu_us_per_delivery']} us per "
            f"delivery), client cpu {result['client_cpu']}"
            + ("" if result["passed"] else "  <- falls behind")
        )
        if not result["passed"]:
            break
        await asyncio.sleep(settle)
    passing = [r for r in results if r["passed"]]
    capacity = max((r["delivered_per_s"] for r in passing), default=0)
    at_5000 = next((r for r in results if r["offered_per_s"] == 5_000), None)
    return results, capacity, at_5000
