"""Real processes for end-to-end tests: daphne nodes and Celery workers.

A ``LiveStack`` owns one database (a SQLite file, or a fresh PostgreSQL
database) and one channel layer / broker choice (in-memory and file system,
or a Redis database), migrates it, and starts processes on it exactly as an
operator would (docs/deployment.md): ``daphne chatproject.asgi:application``
and ``celery -A chatproject worker``. Tests then talk to it over HTTP and
websockets only.

PostgreSQL and Redis come from ``CHAT_TEST_POSTGRES_URL`` (default
``postgres://postgres@127.0.0.1:5432/test``) and ``CHAT_TEST_REDIS_URL``
(default ``redis://127.0.0.1:6379/``); when one is unreachable the test is
skipped, or fails when ``CHAT_TEST_REQUIRE_SERVICES=1`` (CI).
"""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTGRES_URL = os.environ.get("CHAT_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CHAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/")
REQUIRE_SERVICES = os.environ.get("CHAT_TEST_REQUIRE_SERVICES") == "1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reachable(url):
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=1).close()
        return True
    except OSError:
        return False


def need(service):
    """Skip (or, in CI, fail) a test whose service is not running."""
    url = POSTGRES_URL if service == "postgres" else REDIS_URL
    if reachable(url):
        return
    message = f"{service} is not reachable at {url}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (CHAT_TEST_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def wait_for_port(port, *, timeout=30, proc=None, log=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}:\n{_tail(log)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s:\n{_tail(log)}")


def _tail(path, chars=3000):
    if not path or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        return f.read()[-chars:]


class Process:
    def __init__(self, name, args, env, log):
        self.name, self.log = name, log
        self._log_file = open(log, "w")
        self.popen = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def signal(self, sig):
        if self.alive():
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout=10):
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(5)
        self._log_file.close()

    def kill(self):
        """SIGKILL the whole process group (the worker's pool children too)."""
        self.signal(signal.SIGKILL)
        self.popen.wait(10)
        self._log_file.close()

    def output(self):
        return _tail(self.log, 200_000)


_templates = {}


def _migrated_template(kind, env):
    """A database migrated once per test session, copied for each stack.

    Migrating takes seconds per stack; copying a PostgreSQL template or a
    SQLite file takes milliseconds.
    """
    if kind in _templates:
        return _templates[kind]
    env = {k: v for k, v in env.items() if k != "REDIS_URL"}
    if kind == "postgres":
        name = f"live_template_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        _psql_admin(f"CREATE DATABASE {name}")
        atexit.register(_psql_admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        env["DATABASE_URL"] = f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
        _templates[kind] = name
    else:
        folder = Path(tempfile.mkdtemp(prefix="chat-live-template-"))
        atexit.register(shutil.rmtree, folder, True)
        env["DATABASE_URL"] = f"sqlite:///{folder / 'template.sqlite3'}"
        _templates[kind] = folder / "template.sqlite3"
    try:
        _manage(env, "migrate", "--noinput")
    except Exception:
        del _templates[kind]
        raise
    return _templates[kind]


def _manage(env, *args):
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def _psql_admin(sql):
    parts = urlsplit(POSTGRES_URL)
    subprocess.run(
        [
            "psql",
            "-h",
            parts.hostname,
            "-p",
            str(parts.port or 5432),
            "-U",
            parts.username or "postgres",
            "-d",
            parts.path.lstrip("/") or "postgres",
            "-c",
            sql,
        ],
        check=True,
        capture_output=True,
    )


class LiveStack:
    def __init__(self, *, db="sqlite", layer="memory", env=None, redis_url=None):
        self.workdir = Path(tempfile.mkdtemp(prefix="chat-live-"))
        self.processes = []
        self.db_name = None
        self.redis_url = None
        env_ = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "EMAIL_URL")
        }
        env_.update(
            PYTHONUNBUFFERED="1",
            DEBUG="0",
            SECRET_KEY="live-" + uuid.uuid4().hex,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            DJANGO_SETTINGS_MODULE="chatproject.settings",
            VAR_DIR=str(self.workdir / "var"),
            CHAT_PRESENCE_EXPIRY="6",
        )
        if db == "postgres":
            need("postgres")
            self.db_name = "live_" + uuid.uuid4().hex[:10]
            template = _migrated_template("postgres", env_)
            self._psql(f"CREATE DATABASE {self.db_name} TEMPLATE {template}")
            base = POSTGRES_URL.rsplit("/", 1)[0]
            env_["DATABASE_URL"] = f"{base}/{self.db_name}"
        else:
            shutil.copyfile(_migrated_template("sqlite", env_), self.workdir / "live.sqlite3")
            env_["DATABASE_URL"] = f"sqlite:///{self.workdir / 'live.sqlite3'}"
        if layer == "redis" and redis_url:
            # A Redis server of the test's own (one it may stop and restart).
            self.redis_url = redis_url
            env_["REDIS_URL"] = self.redis_url
        elif layer == "redis":
            need("redis")
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            # A private database number for this stack, so stacks never share groups.
            number = 2 + int(client.incr("chat-live-stack-counter")) % 13
            self.redis_url = REDIS_URL.rstrip("/") + f"/{number}"
            redis.Redis.from_url(self.redis_url).flushdb()
            env_["REDIS_URL"] = self.redis_url
        env_.update(env or {})
        self.env = env_

    # --- processes -------------------------------------------------------

    def start_daphne(self, port=None, env=None):
        port = port or free_port()
        log = self.workdir / f"daphne-{port}.log"
        proc = Process(
            f"daphne:{port}",
            [
                str(BIN / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "chatproject.asgi:application",
            ],
            {**self.env, **(env or {})},
            log,
        )
        proc.port = port
        proc.base_url = f"http://127.0.0.1:{port}"
        proc.ws_url = f"ws://127.0.0.1:{port}/ws/chat/"
        self.processes.append(proc)
        wait_for_port(port, proc=proc.popen, log=log)
        return proc

    def start_worker(self, *args, env=None, name="worker"):
        log = self.workdir / f"{name}-{len(self.processes)}.log"
        proc = Process(
            name,
            [str(BIN / "celery"), "-A", "chatproject", "worker", "-l", "info", "-c", "1", *args],
            {**self.env, **(env or {})},
            log,
        )
        self.processes.append(proc)
        deadline = time.time() + 30
        while time.time() < deadline:
            if "ready." in proc.output():
                return proc
            if not proc.alive():
                break
            time.sleep(0.2)
        raise RuntimeError(f"celery worker did not start:\n{proc.output()[-3000:]}")

    def stop(self):
        for proc in reversed(self.processes):
            proc.stop()
        if self.db_name:
            self._psql(f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)")
        keep = os.environ.get("CHAT_TEST_KEEP_LOGS")
        if keep:
            shutil.copytree(self.workdir, Path(keep) / self.workdir.name, dirs_exist_ok=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    # --- management ------------------------------------------------------

    def manage(self, *args):
        return _manage(self.env, *args)

    def shell(self, code):
        """Run Python in ``manage.py shell``; returns the JSON its last line prints."""
        out = self.manage("shell", "-c", code)
        return json.loads(out.strip().splitlines()[-1])

    def create_user(self, username, password=None, **extra):
        """Create a user and a token; returns ``{"id", "username", "password", "token"}``."""
        password = password or f"pw-{username}-Live-2026"
        data = self.shell(
            "import json\n"
            "from django.contrib.auth import get_user_model\n"
            "from rest_framework.authtoken.models import Token\n"
            f"u = get_user_model().objects.create_user({username!r}, {username + '@example.com'!r},"
            f" {password!r}, **{extra!r})\n"
            "print(json.dumps({'id': u.pk, 'token': Token.objects.create(user=u).key}))"
        )
        return {"username": username, "password": password, **data}

    def create_room(self, name, owner, members=()):
        """A group room through the service; returns its id."""
        return self.shell(
            "import json\n"
            "from django.contrib.auth import get_user_model\n"
            "from chat import services\n"
            f"owner = get_user_model().objects.get(pk={owner['id']})\n"
            f"room = services.room_create(owner=owner, name={name!r}, "
            f"member_ids={[m['id'] for m in members]!r})\n"
            "print(json.dumps(room.pk))"
        )

    def _psql(self, sql):
        _psql_admin(sql)
