"""``/readyz`` of a real daphne node while its real dependencies are down."""

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from tests.live import free_port, wait_for_port


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def private_redis(tmp_path):
    """A Redis server of this test's own, which the test may kill."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    wait_for_port(port, proc=proc)
    yield proc, f"redis://127.0.0.1:{port}/0"
    proc.kill()
    proc.wait(10)


def test_readyz_tells_an_unmigrated_and_an_unreachable_database_apart(live_stack, tmp_path):
    stack = live_stack()
    unmigrated = stack.start_daphne(env={"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"})
    dead = stack.start_daphne(
        env={"DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/nowhere"}
    )

    status, body = get(unmigrated.base_url + "/readyz")
    assert status == 503
    assert body["checks"] == {
        "database": "ok",
        "migrations": "pending",
        "channel_layer": "ok",
        "broker": "ok",
    }
    status, body = get(dead.base_url + "/readyz")
    assert status == 503
    assert body["checks"]["database"] == "unavailable"
    assert body["checks"]["migrations"] == "unknown"
    assert "nowhere" not in json.dumps(body)
    assert get(dead.base_url + "/healthz") == (200, {"status": "ok"})


def test_readyz_turns_unavailable_when_redis_dies_and_healthz_stays_up(live_stack, private_redis):
    proc, url = private_redis
    stack = live_stack()
    node = stack.start_daphne(env={"REDIS_URL": url, "CELERY_BROKER_URL": url})
    assert get(node.base_url + "/readyz") == (
        200,
        {
            "status": "ok",
            "checks": {
                "database": "ok",
                "migrations": "ok",
                "channel_layer": "ok",
                "broker": "ok",
            },
        },
    )
    proc.kill()
    proc.wait(10)
    started = time.monotonic()
    status, body = get(node.base_url + "/readyz")
    assert time.monotonic() - started < 5  # a dead dependency must not hang the probe
    assert status == 503
    assert body["checks"]["channel_layer"] == "unavailable"
    assert body["checks"]["broker"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert get(node.base_url + "/healthz") == (200, {"status": "ok"})
