"""The measurements: fan-out sweep, idle connections and connect rate, history pages, push.

Each function starts what it needs on an already running server or stack,
measures, closes its connections and returns a dict for the results file.
"""

import asyncio
import time
import uuid

import httpx

from .loadclient import open_many, percentile
from .servers import rss_kib
from .sweep import PROJECT_PREFIX, RELAY_PREFIX, FanoutRoom, sweep

ACK_PREFIX = b'{"type":"message.ack"'


def _prefix():
    return "b" + uuid.uuid4().hex[:6] + "_"


async def _close_all(conns):
    for conn in conns:
        if conn is not None and conn.transport is not None:
            conn.transport.abort()
    await asyncio.sleep(0.2)


def _summary(steps, capacity, at_5000, **extra):
    efficiency = [s["deliveries_per_server_cpu_s"] for s in steps if s["lost"] == 0]
    return {
        **extra,
        "capacity_per_s": capacity,
        # What one fully available core would carry, from the server's CPU time:
        # steadier than capacity when other work shares the server's core.
        "deliveries_per_server_cpu_s": max((e for e in efficiency if e), default=None),
        "lost_in_sweep": sum(s["lost"] for s in steps),
        "lost_in_passing_steps": sum(s["lost"] for s in steps if s["passed"]),
        "p50_ms_at_5000": at_5000["p50_ms"] if at_5000 else None,
        "p99_ms_at_5000": at_5000["p99_ms"] if at_5000 else None,
        "steps": steps,
    }


# --- fan-out --------------------------------------------------------------


async def fanout_baseline(server, args, log):
    conns, _, failed = await open_many(server.ws_url, [None] * args.members)
    if failed:
        raise RuntimeError(f"{failed} of {args.members} members could not connect")
    try:
        await asyncio.sleep(0.3)
        room = FanoutRoom(
            conns,
            conns[: args.senders],
            1,
            delivery_prefix=RELAY_PREFIX,
            server_pids=[server.pid],
        )
        steps, capacity, at_5000 = await sweep(room, args.steps, duration=args.duration, log=log)
    finally:
        await _close_all(conns)
    return _summary(steps, capacity, at_5000, server=server.kind)


async def fanout_project(stack, nodes, args, log):
    data = stack.populate(users=args.members, rooms=1, rooms_per_user=1, prefix=_prefix())
    room_id = data["rooms"][0]
    tokens = [token for _, token in data["users"]]
    conns = []
    try:
        # Members alternate between the nodes, so do the senders.
        for i, token in enumerate(tokens):
            opened, _, _ = await open_many(nodes[i % len(nodes)].ws_url, [token], expect_hello=True)
            conns.extend(opened)
        if len(conns) != len(tokens):
            raise RuntimeError(f"only {len(conns)} of {len(tokens)} members could connect")
        await asyncio.sleep(0.5)
        room = FanoutRoom(
            conns,
            conns[: args.senders],
            room_id,
            delivery_prefix=PROJECT_PREFIX,
            server_pids=[n.pid for n in nodes],
        )
        steps, capacity, at_5000 = await sweep(room, args.steps, duration=args.duration, log=log)
        errors = room.errors
    finally:
        await _close_all(conns)
    return _summary(
        steps, capacity, at_5000, server="daphne", nodes=len(nodes), error_samples=errors
    )


# --- idle connections and connect rate ------------------------------------


async def _idle(url, pid, tokens, log, *, expect_hello, settle):
    # One connection first, so that what a process loads on first use
    # (modules, the hub, database connections) is not counted per socket.
    warm, _, _ = await open_many(url, tokens[:1], expect_hello=expect_hello)
    await asyncio.sleep(settle / 2)
    await _close_all(warm)
    await asyncio.sleep(settle / 2)
    before = rss_kib(pid)
    conns, seconds, failed = await open_many(url, tokens, expect_hello=expect_hello)
    await asyncio.sleep(settle)
    after = rss_kib(pid)
    n = len(conns)
    figures = {
        "connections": n,
        "refused": failed,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_connection": round((after - before) / n, 1),
        "connects_per_s": round(n / seconds),
        "open_seconds": round(seconds, 2),
    }
    log(
        f"    idle: {n:,} sockets, {figures['kib_per_connection']} KiB each, "
        f"{figures['connects_per_s']:,} connects/s"
    )
    await _close_all(conns)
    return figures


async def idle_baseline(server, count, log, *, settle=3.0):
    figures = await _idle(
        server.ws_url, server.pid, [None] * count, log, expect_hello=False, settle=settle
    )
    figures["handshake"] = "unauthenticated websocket handshake"
    return figures


async def idle_project(stack, count, log, *, node=None, settle=3.0):
    """Authenticated sockets of distinct users, each a member of 5 rooms of 25 members."""
    per_user_rooms = 5
    rooms = max(1, count * per_user_rooms // 25)
    data = stack.populate(users=count, rooms=rooms, rooms_per_user=per_user_rooms, prefix=_prefix())
    tokens = [token for _, token in data["users"]]
    own_node = node is None
    node = node or stack.start_node()
    try:
        figures = await _idle(node.ws_url, node.pid, tokens, log, expect_hello=True, settle=settle)
    finally:
        if own_node:
            stack.stop_node(node)
    figures["handshake"] = "token-authenticated handshake and hello"
    figures["rooms_per_connection"] = per_user_rooms
    figures["members_per_room"] = count * per_user_rooms // rooms
    return figures


# --- history pages --------------------------------------------------------


async def _page_load(client, url, expect_last, duration, concurrency):
    latencies, failures = [], 0
    deadline = time.monotonic() + duration

    async def worker():
        nonlocal failures
        while time.monotonic() < deadline:
            start = time.monotonic()
            response = await client.get(url)
            latencies.append(time.monotonic() - start)
            if response.status_code != 200:
                failures += 1
                continue
            results = response.json()["results"]
            if len(results) != 50 or results[-1]["seq"] != expect_last:
                failures += 1

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.monotonic() - start
    latencies.sort()
    return {
        "requests": len(latencies),
        "failures": failures,
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
    }


async def history(stack, node, args, log):
    """The newest page against a page ``history_depth`` messages back, in one big room."""
    depth = args.history_depth
    data = stack.populate(users=1, rooms=1, rooms_per_user=1, prefix=_prefix())
    (user_id, token), room_id = data["users"][0], data["rooms"][0]
    # The deep page is the 50 messages before seq ``total - depth``: it starts
    # ``depth`` messages back from the newest and is full (seq starts at 1).
    total = depth + 100
    stack.fill_history(room_id, user_id, total)
    headers = {"Authorization": f"Token {token}"}
    async with httpx.AsyncClient(base_url=node.base_url, headers=headers) as client:
        path = f"/api/rooms/{room_id}/messages/"
        probe = await client.get(path, params={"limit": 50})
        if probe.status_code != 200:
            log(f"    history: skipped, GET {path} answers {probe.status_code}")
            return {"skipped": f"GET /api/rooms/{{id}}/messages/ -> {probe.status_code}"}
        seconds = 1.0 if args.smoke else 5.0
        newest = await _page_load(client, f"{path}?limit=50", total, seconds, 4)
        deep_before = total - depth
        deep = await _page_load(
            client, f"{path}?before={deep_before}&limit=50", deep_before - 1, seconds, 4
        )
    figures = {
        "messages_in_room": total,
        "deep_page_before_seq": total - depth,
        "newest": newest,
        "deep": deep,
        "deep_over_newest_p99": round(deep["p99_ms"] / newest["p99_ms"], 2),
    }
    log(
        f"    history: newest {newest['requests_per_s']}/s p99 {newest['p99_ms']} ms; "
        f"{depth:,} deep {deep['requests_per_s']}/s p99 {deep['p99_ms']} ms; "
        f"wrong answers {newest['failures'] + deep['failures']}"
    )
    return figures


# --- push on against push off ---------------------------------------------


async def _send_throughput(url_for, tokens, room_id, seconds, window=4):
    """Closed loop: each sender keeps ``window`` sends in flight; returns acks per second."""
    acks = 0
    counter = iter(range(10**9))

    def send_one(conn):
        n = next(counter)
        conn.send_text(
            f'{{"type":"message.send","room":{room_id},"body":"push bench {n}",'
            f'"client_id":"p{n}-{uuid.uuid4().hex[:8]}"}}'
        )

    def on_text(conn, data, now):
        nonlocal acks
        if data.startswith(ACK_PREFIX):
            acks += 1
            if time.monotonic() < deadline:
                send_one(conn)

    conns = []
    for i, token in enumerate(tokens):
        opened, _, _ = await open_many(url_for(i), [token], expect_hello=True)
        conns.extend(opened)
    deadline = time.monotonic() + seconds
    start = time.monotonic()
    for conn in conns:
        conn.on_text = on_text
        for _ in range(window):
            send_one(conn)
    await asyncio.sleep(seconds + 1.0)
    await _close_all(conns)
    return round(acks / (time.monotonic() - start - 1.0), 1)


async def push_ratio(stack, node, args, log):
    """Send throughput in a room whose offline members have push devices, against one without."""
    senders, offline = args.senders, 45
    runs = {}
    for mode in ("off", "on"):
        data = stack.populate(users=senders + offline, rooms=1, rooms_per_user=1, prefix=_prefix())
        runs[mode] = data
    # Register a device for each offline member of the "on" room, through the API.
    async with httpx.AsyncClient(base_url=node.base_url) as client:
        for _, token in runs["on"]["users"][senders:]:
            response = await client.post(
                "/api/devices/",
                json={"platform": "android", "token": f"bench-device-{uuid.uuid4().hex}"},
                headers={"Authorization": f"Token {token}"},
            )
            if response.status_code not in (200, 201):
                log(f"    push: skipped, POST /api/devices/ answers {response.status_code}")
                return {"skipped": f"POST /api/devices/ -> {response.status_code}"}
    queued_before = _broker_queue_length(stack)
    figures = {}
    for mode in ("off", "on", "off", "on"):
        data = runs[mode]
        tokens = [t for _, t in data["users"][:senders]]
        rate = await _send_throughput(lambda i: node.ws_url, tokens, data["rooms"][0], 4.0)
        figures.setdefault(mode, []).append(rate)
    off, on = max(figures["off"]), max(figures["on"])
    result = {
        "offline_members_with_devices": offline,
        "sends_per_s_push_off": off,
        "sends_per_s_push_on": on,
        "on_over_off": round(on / off, 2) if off else None,
        "runs": figures,
    }
    queued_after = _broker_queue_length(stack)
    if queued_before is not None and queued_after is not None:
        result["celery_tasks_enqueued"] = queued_after - queued_before
    log(f"    push: {off}/s off, {on}/s on ({result['on_over_off']}x)")
    return result


def _broker_queue_length(stack):
    """Tasks waiting in the Redis broker's default queue (None without Redis)."""
    url = stack.stack.redis_url
    if not url:
        return None
    import redis

    return redis.Redis.from_url(url).llen("celery")
