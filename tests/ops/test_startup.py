"""A production process refuses to start on a broken configuration, with one clear line.

Each test runs the real command an operator runs (daphne, ``manage.py check``,
``celery worker``) in a subprocess and reads its exit status and output.
"""

import os
import subprocess
import sys
import tempfile

import pytest

from ops.startup import EXIT_CONFIG
from tests.live import BIN, ROOT, free_port

pytestmark = pytest.mark.slow


def run(args, **env):
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY", "DEBUG")
    }
    base.update(VAR_DIR=tempfile.mkdtemp(prefix="chat-startup-"), PYTHONUNBUFFERED="1")
    base.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run(
        args,
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
    )


def daphne(**env):
    return run([str(BIN / "daphne"), "-p", str(free_port()), "chatproject.asgi:application"], **env)


def refusal(result):
    lines = [line for line in result.stderr.splitlines() if line.startswith("Refusing to start:")]
    assert len(lines) == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return lines[0]


def dead_redis():
    return f"redis://127.0.0.1:{free_port()}/0"


def test_daphne_refuses_to_start_without_a_secret_key_when_debug_is_off():
    result = daphne(DEBUG="0")
    assert result.returncode == EXIT_CONFIG
    assert "SECRET_KEY must be set when DEBUG is off" in refusal(result)


def test_daphne_refuses_to_start_in_production_with_debug_on():
    result = daphne(DEBUG="1", DEPLOY_ENV="production", SECRET_KEY="k" * 50)
    assert result.returncode == EXIT_CONFIG
    assert (
        refusal(result)
        == "Refusing to start: DEBUG is on while DEPLOY_ENV=production; set DEBUG=0."
    )


def test_daphne_refuses_to_start_when_redis_is_unreachable():
    url = dead_redis()
    result = daphne(DEBUG="0", SECRET_KEY="k" * 50, REDIS_URL=url)
    assert result.returncode == EXIT_CONFIG
    port = url.rsplit(":", 1)[1].split("/")[0]
    assert f"REDIS_URL points at Redis on 127.0.0.1:{port}, which is unreachable" in refusal(result)


def test_a_celery_worker_refuses_to_start_when_redis_is_unreachable():
    result = run(
        [str(BIN / "celery"), "-A", "chatproject", "worker", "-l", "info", "-c", "1"],
        DEBUG="0",
        SECRET_KEY="k" * 50,
        REDIS_URL=dead_redis(),
    )
    assert result.returncode == EXIT_CONFIG
    assert "which is unreachable" in refusal(result)


def test_manage_py_check_reports_debug_on_in_production():
    result = run([sys.executable, "manage.py", "check"], DEBUG="1", DEPLOY_ENV="production")
    assert result.returncode == 1
    assert "(ops.E001) DEBUG is on while DEPLOY_ENV=production; set DEBUG=0." in result.stderr
    assert "(ops.E001) SECRET_KEY is missing" in result.stderr


def test_manage_py_check_deploy_probes_redis_but_plain_commands_do_not():
    env = {"DEBUG": "0", "SECRET_KEY": "k" * 50, "REDIS_URL": dead_redis()}
    deploy = run([sys.executable, "manage.py", "check", "--deploy"], **env)
    assert deploy.returncode == 1
    assert "(ops.E002) REDIS_URL points at Redis" in deploy.stderr
    # The checks every management command runs do not probe: they work with Redis down.
    offline = run([sys.executable, "manage.py", "check"], **env)
    assert offline.returncode == 0, offline.stderr[-2000:]


def test_a_sound_production_configuration_passes_the_checks():
    result = run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        DEBUG="0",
        DEPLOY_ENV="production",
        SECRET_KEY="k" * 50,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_daphne_refuses_to_start_when_the_metrics_folder_is_missing(tmp_path):
    missing = tmp_path / "no-such-folder"
    result = daphne(DEBUG="0", SECRET_KEY="k" * 50, PROMETHEUS_MULTIPROC_DIR=str(missing))
    assert result.returncode == EXIT_CONFIG
    assert refusal(result) == (
        f"Refusing to start: PROMETHEUS_MULTIPROC_DIR {missing} is not a writable folder."
    )
