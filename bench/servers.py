"""The servers under test, started as real processes pinned to the server core.

The project runs exactly as an operator runs it (``daphne
chatproject.asgi:application`` on a migrated database) through the test
suite's ``tests.live.LiveStack``: a fresh PostgreSQL database and a private
Redis database number when those services are reachable, else a SQLite file
and the in-memory layer. The two baselines are ``bench.minimal_channels``
under daphne and ``bench.bare_server``.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.live import BIN, POSTGRES_URL, REDIS_URL, ROOT, LiveStack, free_port, reachable

SERVER_CORES = {0}
CLIENT_CORES = {1}

# The benchmark offers thousands of frames per second per socket; the default
# per-socket limit (20/s, bursts of 40) would refuse them. Reported in the output.
BENCH_ENV = {
    "CHAT_RATE_PER_SECOND": "1000000",
    "CHAT_RATE_BURST": "1000000",
    "CHAT_PRESENCE_EXPIRY": "30",
}


def pin(pid, cores):
    """Pin every thread of a process (threads created later inherit it)."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        try:
            os.sched_setaffinity(tid, cores)
        except OSError:
            pass


def _profile(pid):
    """With ``BENCH_PYSPY=<folder>``, record the node with py-spy until it stops.

    The output is py-spy's collapsed-stack text (one line per stack with its
    sample count), which ``python -m bench.hotspots`` summarises.
    """
    folder = os.environ.get("BENCH_PYSPY")
    if not folder:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    out = Path(folder) / f"daphne-{pid}.txt"
    return subprocess.Popen(
        [
            str(BIN / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--threads",
            "--rate",
            "200",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def usable_cores():
    return os.sched_getaffinity(0)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def services_available():
    return reachable(POSTGRES_URL) and reachable(REDIS_URL)


class ProjectStack:
    """One database and layer, with any number of daphne nodes on it."""

    def __init__(self, *, db, layer, env=None):
        self.db, self.layer = db, layer
        self.label = f"{'PostgreSQL' if db == 'postgres' else 'SQLite'} + "
        self.label += "Redis layer" if layer == "redis" else "in-memory layer"
        self.stack = LiveStack(db=db, layer=layer, env={**BENCH_ENV, **(env or {})})
        self.nodes = []

    def start_node(self, env=None):
        node = self.stack.start_daphne(env=env)
        pin(node.pid, SERVER_CORES)
        self.nodes.append(node)
        node.profiler = _profile(node.pid)
        return node

    def stop_node(self, node):
        node.stop()
        self.nodes.remove(node)
        if node.profiler is not None:
            node.profiler.wait(30)

    def populate(self, *, users, rooms, rooms_per_user, prefix):
        """Create users with tokens, and rooms they belong to, in bulk.

        Room memberships are spread so that each room has the same number of
        members; returns ``{"users": [[id, token], ...], "rooms": [id, ...]}``.
        """
        code = POPULATE.format(
            users=users, rooms=rooms, rooms_per_user=rooms_per_user, prefix=prefix
        )
        return self.stack.shell(code)

    def fill_history(self, room_id, author_id, count):
        """``count`` messages in a room, inserted in bulk; returns the room's last seq."""
        return self.stack.shell(HISTORY.format(room_id=room_id, author_id=author_id, count=count))

    def stop(self):
        self.stack.stop()


POPULATE = """
import json
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from rest_framework.authtoken.models import Token
from chat.models import Membership, Room

User = get_user_model()
password = make_password("bench-password-2026")
users = User.objects.bulk_create(
    [User(username=f"{prefix}{{i}}", password=password) for i in range({users})], batch_size=2000
)
tokens = Token.objects.bulk_create(
    [Token(key=Token.generate_key(), user=u) for u in users], batch_size=2000
)
rooms = Room.objects.bulk_create(
    [Room(name=f"{prefix} room {{r}}", owner=users[0]) for r in range({rooms})]
)
per_room = {users} * {rooms_per_user} // {rooms}
blocks = {users} // per_room
memberships = []
for i, user in enumerate(users):
    for j in range({rooms_per_user}):
        room = rooms[(i // per_room + j * blocks) % {rooms}]
        memberships.append(Membership(user=user, room=room))
Membership.objects.bulk_create(memberships, batch_size=5000)
print(json.dumps({{"users": [[t.user_id, t.key] for t in tokens], "rooms": [r.pk for r in rooms]}}))
"""

HISTORY = """
import json
from django.db import transaction
from chat.models import Message, Room

with transaction.atomic():
    for start in range(1, {count} + 1, 5000):
        Message.objects.bulk_create(
            [
                Message(room_id={room_id}, seq=seq, author_id={author_id},
                        body=f"history message {{seq}}", client_id=f"h{{seq}}")
                for seq in range(start, min(start + 5000, {count} + 1))
            ]
        )
    Room.objects.filter(pk={room_id}).update(last_seq={count})
print(json.dumps({count}))
"""


class BaselineServer:
    """A baseline server process pinned to the server core."""

    def __init__(self, kind, workdir):
        self.kind = kind
        self.port = free_port()
        self.log = Path(workdir) / f"{kind}-{self.port}.log"
        if kind == "minimal_channels":
            args = [
                str(BIN / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "bench.minimal_channels:application",
            ]
        else:
            args = [sys.executable, "-m", "bench.bare_server", str(self.port)]
        self._log_file = open(self.log, "w")
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        self.popen = subprocess.Popen(
            ["taskset", "-c", ",".join(map(str, sorted(SERVER_CORES))), *args],
            cwd=ROOT,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.popen.pid
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws/chat/"
        _wait_for_port(self.port, self.popen, self.log)

    def stop(self):
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log_file.close()


def _wait_for_port(port, popen, log, timeout=30):
    import socket

    deadline = time.time() + timeout
    while time.time() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"server exited with {popen.returncode}: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def describe_machine():
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "server_cores": sorted(SERVER_CORES),
        "client_cores": sorted(CLIENT_CORES),
        "load": os.getloadavg(),
        "platform": f"{os.uname().sysname} {os.uname().release} {os.uname().machine}",
    }
