"""The chat's signals enqueue push work once per message, after commit, on the real broker.

The default broker is kombu's file-system transport, so what was enqueued
can be read back from its queue folder.
"""

import base64
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction

from chat import services as chat
from chatproject import enqueue
from devices import tasks
from devices.models import PushDelivery

pytestmark = pytest.mark.django_db

PUSH_TASKS = (
    "devices.tasks.push_messages",
    "devices.tasks.push_message",
    "devices.tasks.push_clear",
)


def _messages():
    """(handle, message) for every task message waiting on the configured broker.

    The embedded broker keeps them as files; Redis (CI) keeps them in the
    default queue's list. Either way nothing consumes them in these tests.
    """
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    if "data_folder_in" in options:
        for path in Path(options["data_folder_in"]).glob("*.msg"):
            try:
                yield path, json.loads(path.read_text())
            except (OSError, ValueError):
                continue
    else:
        import redis

        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        for raw in client.lrange("celery", 0, -1):
            yield raw, json.loads(raw)


def _discard(handle):
    if isinstance(handle, Path):
        handle.unlink(missing_ok=True)
    else:
        import redis

        redis.Redis.from_url(settings.CELERY_BROKER_URL).lrem("celery", 0, handle)


@pytest.fixture
def queued():
    """``queued(task)``: the argument lists of ``task`` published since the test began."""
    for handle, message in _messages():
        if message["headers"].get("task") in PUSH_TASKS:
            _discard(handle)

    def read(task):
        assert enqueue.flush(timeout=10)
        found = []
        for _, message in _messages():
            if message["headers"].get("task") == task:
                args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
                found.append(args)
        return found

    return read


def test_one_task_per_message_however_many_recipients(
    queued, device, send, alice, bob, carol, make_user, django_capture_on_commit_callbacks
):
    dave = make_user("dave")
    room = chat.room_create(owner=alice, name="g", member_ids=[bob.pk, carol.pk, dave.pk])
    for user in (bob, carol, dave):
        device(user, "android", f"{user.username}-phone")
    with django_capture_on_commit_callbacks(execute=True):
        message = send(alice, room)
    assert queued("devices.tasks.push_messages") == [[[message.pk]]]
    tasks.push_messages([message.pk])
    assert queued("devices.tasks.push_message") == [[message.pk]]


def test_a_burst_of_messages_is_one_hand_off(
    queued, device, send, alice, bob, room, django_capture_on_commit_callbacks
):
    device(bob, "android", "bob-phone")
    with django_capture_on_commit_callbacks(execute=True):
        messages = [send(alice, room) for _ in range(5)]
    assert queued("devices.tasks.push_messages") == [[[m.pk for m in messages]]]


def test_a_rolled_back_send_enqueues_nothing(
    queued, device, alice, bob, room, django_capture_on_commit_callbacks
):
    device(bob, "android", "bob-phone")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            chat.message_send(user=alice, room_id=room.pk, body="never", client_id="rb-1")
            raise RuntimeError("the request failed after the send")
    assert callbacks == []
    assert queued("devices.tasks.push_messages") == []
    assert queued("devices.tasks.push_message") == []


def test_rooms_without_devices_start_no_push_task(
    queued, device, send, alice, bob, room, django_capture_on_commit_callbacks
):
    device(alice, "android", "only-the-author-has-one")
    with django_capture_on_commit_callbacks(execute=True):
        send(alice, room)
    [[ids]] = queued("devices.tasks.push_messages")
    tasks.push_messages(ids)
    assert queued("devices.tasks.push_message") == []


def test_deleted_messages_start_no_push_task(queued, device, send, alice, bob, room):
    device(bob, "android", "bob-phone")
    kept, gone = send(alice, room), send(alice, room)
    chat.message_delete(user=alice, message_id=gone.pk)
    tasks.push_messages([kept.pk, gone.pk])
    assert queued("devices.tasks.push_message") == [[kept.pk]]


def test_reading_pushed_messages_enqueues_one_clear(
    queued, device, send, alice, bob, room, django_capture_on_commit_callbacks
):
    from devices import delivery

    device(bob, "android", "bob-phone")
    with django_capture_on_commit_callbacks(execute=True):
        message = send(alice, room)
    delivery.push_message_deliver(message_id=message.pk)
    assert PushDelivery.objects.get().state == PushDelivery.State.SENT
    with django_capture_on_commit_callbacks(execute=True):
        chat.message_read(user=bob, room_id=room.pk, seq=message.seq)
    assert queued("devices.tasks.push_clear") == [[bob.pk, room.pk, message.seq, 0]]


def test_reading_what_was_never_pushed_enqueues_no_clear(
    queued, send, alice, bob, room, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = send(alice, room)
        chat.message_read(user=bob, room_id=room.pk, seq=message.seq)
    assert queued("devices.tasks.push_clear") == []
