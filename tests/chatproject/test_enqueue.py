"""The shared background publisher: coalesces bursts, never makes the caller wait."""

import base64
import json
import logging
import socket
import time

import pytest
from celery import Celery

from chatproject.enqueue import Publisher


def filesystem_app(folder):
    """A Celery app of its own on kombu's file-system broker: one file per publish."""
    app = Celery("enqueue-tests", set_as_current=False)
    app.conf.broker_url = "filesystem://"
    app.conf.broker_transport_options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(folder),
        "store_processed": False,
    }
    app.conf.task_serializer = "json"
    return app


def published(folder):
    """``(task name, args, eta)`` of every message in ``folder``, oldest first."""
    calls = []
    for path in sorted(folder.glob("*.msg")):
        message = json.loads(path.read_text())
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        calls.append((message["headers"]["task"], args, message["headers"]["eta"]))
    return calls


@pytest.fixture
def broker(tmp_path):
    app = filesystem_app(tmp_path)

    @app.task(name="tests.pend")
    def pend(ids):
        """Stands for a task that takes a list of ids."""

    @app.task(name="tests.push")
    def push(message_id, user_id):
        """Stands for a one-call task."""

    app.folder, app.pend, app.push = tmp_path, pend, push
    return app


def test_a_burst_of_items_for_one_task_is_published_as_one_call_with_the_list(broker):
    publisher = Publisher(maxsize=1000)
    for n in range(100):
        publisher.enqueue_each(broker.pend, n)
    assert publisher.flush(timeout=10)
    assert published(broker.folder) == [("tests.pend", [list(range(100))], None)]


def test_a_call_carries_at_most_batch_max_items(broker):
    publisher = Publisher(maxsize=2000)
    for n in range(1200):
        publisher.enqueue_each(broker.pend, n)
    assert publisher.flush(timeout=10)
    calls = [args[0] for _, args, _ in published(broker.folder)]
    assert [len(ids) for ids in calls] == [500, 500, 200]
    assert [n for ids in calls for n in ids] == list(range(1200))


def test_plain_calls_go_out_one_by_one_with_their_options(broker):
    publisher = Publisher(maxsize=100)
    publisher.enqueue(broker.push, 7, 3)
    publisher.enqueue(broker.push, 8, 3, countdown=60)
    publisher.enqueue_each(broker.pend, 7)
    assert publisher.flush(timeout=10)
    calls = published(broker.folder)
    assert sorted((name, args) for name, args, _ in calls) == [
        ("tests.pend", [[7]]),
        ("tests.push", [7, 3]),
        ("tests.push", [8, 3]),
    ]
    assert sum(eta is not None for _, _, eta in calls) == 1


@pytest.fixture
def hanging_broker():
    """A TCP port that accepts connections and never answers, like a wedged Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(100)
    yield server
    server.close()


@pytest.mark.slow
def test_the_caller_never_waits_for_a_broker_that_hangs(hanging_broker, caplog):
    app = Celery("enqueue-hang-tests", set_as_current=False)
    app.conf.broker_url = f"redis://127.0.0.1:{hanging_broker.getsockname()[1]}/0"
    # When the port closes at the end, give up quickly instead of reconnecting.
    app.conf.task_publish_retry = False
    app.conf.broker_connection_timeout = 0.2
    app.conf.broker_transport_options = {"max_retries": 1}

    @app.task(name="tests.pend")
    def pend(ids):
        """Stands for a task that takes a list of ids."""

    publisher = Publisher(maxsize=3, attempts=1, name="enqueue-hang-test")
    publisher.enqueue(pend, [0])  # the thread now waits on the broker for good
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="chatproject.enqueue"):
        for n in range(1000):
            publisher.enqueue_each(pend, n)
            publisher.enqueue(pend, [n])
    elapsed = time.monotonic() - started

    assert elapsed < 1.0
    assert not publisher.flush(timeout=0.5)  # nothing could be handed over
    dropped = [r for r in caplog.records if "queue full" in r.getMessage()]
    # The queue holds 3 calls; the rest of the 2,000 were dropped, each logged.
    assert 1990 <= len(dropped) <= 2000
    assert all(r.levelno == logging.ERROR for r in dropped)

    # The broker goes away for good: the thread gives up on what it holds, logging each.
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="chatproject.enqueue"):
        hanging_broker.close()
        assert publisher.flush(timeout=60)
    gave_up = [r for r in caplog.records if "gave up publishing" in r.getMessage()]
    assert len(gave_up) >= 2 and all(r.exc_info for r in gave_up)
