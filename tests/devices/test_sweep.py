"""The push sweep: what it enqueues again, and what it leaves to the live tasks (docs/push.md).

The selection is ``devices.delivery.push_sweep_find``, called with ``now``
moved forward instead of waiting; ``devices.tasks.push_sweep`` publishes to
the configured broker (the file-system one, or Redis in CI), read back here.
"""

import base64
import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from chat import services as chat
from chat.models import Message
from devices import delivery, tasks
from devices.models import PushDecision, PushDelivery
from devices.tasks import push_sweep

from .standins import fcm_error

pytestmark = pytest.mark.django_db

State = PushDelivery.State
SWEPT_TASKS = ("devices.tasks.push_message", "devices.tasks.push_clear", "devices.tasks.push_test")


@pytest.fixture(autouse=True)
def sweep_settings(settings):
    settings.PUSH_SWEEP_GRACE_SECONDS = 60
    settings.PUSH_SWEEP_WINDOW_SECONDS = 3600


def later(seconds):
    return timezone.now() + timedelta(seconds=seconds)


def found(seconds_later):
    return delivery.push_sweep_find(now=later(seconds_later))


def open_row(device_, message, **fields):
    return PushDelivery.objects.create(
        device=device_,
        kind=PushDelivery.Kind.MESSAGE,
        key=f"message:{message.pk}",
        room_id=message.room_id,
        seq=message.seq,
        **fields,
    )


# --- messages whose task never ran -----------------------------------------


def test_a_message_whose_task_never_ran_is_found_once_and_one_whose_task_ran_is_not(
    fcm, device, send, alice, bob, room
):
    device(bob, "android", "bob-phone")
    lost = send(alice, room, "lost")
    ran = send(alice, room, "ran")
    delivery.push_message_deliver(message_id=ran.pk)
    assert found(120).message_ids == [lost.pk]

    delivery.push_message_deliver(message_id=lost.pk)  # what the enqueued task does
    assert found(120).message_ids == []
    assert fcm.script.tokens() == ["bob-phone", "bob-phone"]


def test_messages_outside_the_window_or_within_the_grace_period_are_left_alone(
    device, send, alice, bob, room
):
    device(bob, "android", "bob-phone")
    message = send(alice, room)
    assert found(30).message_ids == []  # the live task normally runs first
    assert found(61).message_ids == [message.pk]
    assert found(3599).message_ids == [message.pk]
    assert found(3601).message_ids == []  # too old to push now


def test_rooms_without_another_members_device_are_not_swept(device, send, alice, bob, room):
    device(alice, "android", "only-the-author-has-one")
    send(alice, room)
    assert found(120).message_ids == []


def test_a_deleted_message_is_decided_and_its_abandoned_rows_are_closed(
    device, send, alice, bob, room
):
    phone = device(bob, "android", "bob-phone")
    message = send(alice, room)
    open_row(phone, message, state=State.SENDING, lease_until=timezone.now())
    chat.message_delete(user=alice, message_id=message.pk)
    assert found(120).message_ids == [message.pk]
    delivery.push_message_deliver(message_id=message.pk)
    assert found(120).message_ids == []
    assert PushDelivery.objects.get().state == State.SKIPPED


# --- deliveries a task abandoned -------------------------------------------


def test_abandoned_deliveries_are_found_and_those_still_in_hand_are_not(
    device, send, alice, bob, carol, make_user
):
    dave, erin = make_user("dave"), make_user("erin")
    room = chat.room_create(owner=alice, name="g", member_ids=[bob.pk, carol.pk, dave.pk, erin.pk])
    phones = {
        u.username: device(u, "android", f"{u.username}-phone") for u in (bob, carol, dave, erin)
    }
    killed, leased, waiting, overdue, sent = (send(alice, room, str(i)) for i in range(5))
    for message in (killed, leased, waiting, overdue, sent):
        PushDecision.objects.create(message_id=message.pk)
    open_row(phones["bob"], killed, state=State.SENDING, lease_until=later(30))
    open_row(phones["carol"], killed, state=State.PENDING)
    open_row(phones["bob"], leased, state=State.SENDING, lease_until=later(600))
    open_row(phones["bob"], waiting, state=State.PENDING, retry_at=later(600))
    open_row(phones["dave"], overdue, state=State.PENDING, retry_at=later(30))
    open_row(phones["erin"], sent, state=State.SENT)

    # Within the grace period nothing is touched, however it looks.
    assert found(30).message_ids == []
    # The killed worker's batch once (two rows), the overdue retry; not the
    # row still leased, the retry not yet due, or what was sent.
    swept = found(120)
    assert swept.message_ids == [killed.pk, overdue.pk]
    assert swept.abandoned == 3 and swept.undecided == 0


def test_a_deferred_push_is_left_to_its_retry_until_it_is_due(fcm, device, send, alice, bob, room):
    device(bob, "android", "bob-phone")
    fcm.script.answer("bob-phone", (503, fcm_error(503, "UNAVAILABLE")))
    message = send(alice, room)
    result = delivery.push_message_deliver(message_id=message.pk)
    assert result.deferred == 1 and len(result.deferred_ids) == 1
    delivery.push_retry_scheduled(ids=result.deferred_ids, countdown=300)
    assert found(120).message_ids == []  # backoff is not undone by the sweep
    assert found(300 + 61).message_ids == [message.pk]  # the retry itself was lost


def test_an_abandoned_clear_is_finished_for_its_own_devices_only(
    fcm, device, send, alice, bob, carol
):
    room = chat.room_create(owner=alice, name="g", member_ids=[bob.pk, carol.pk])
    pushed = device(bob, "android", "bob-pushed")
    device(bob, "android", "bob-other")  # was pushed nothing, so has nothing to clear
    carols = device(carol, "android", "carol-phone")
    message = send(alice, room)
    key = f"clear:{room.pk}:{message.seq}"
    for phone in (pushed, carols):
        PushDelivery.objects.create(
            device=phone, kind="clear", key=key, room=room, seq=message.seq, state=State.PENDING
        )
    PushDecision.objects.create(message_id=message.pk)
    assert found(120).clears == [(bob.pk, room.pk, message.seq), (carol.pk, room.pk, message.seq)]

    delivery.push_clear_deliver(user_id=bob.pk, room_id=room.pk, seq=message.seq, previous_seq=None)
    assert fcm.script.tokens() == ["bob-pushed"]
    # Carol's clear shares the key and is still hers to send.
    assert PushDelivery.objects.get(device=carols).state == State.PENDING
    assert found(120).clears == [(carol.pk, room.pk, message.seq)]


def test_an_abandoned_test_push_is_found(device, bob):
    phone = device(bob, "android", "bob-phone")
    PushDelivery.objects.create(device=phone, kind="test", key="test:n0nce", state=State.PENDING)
    assert found(120).tests == [(phone.pk, "n0nce")]


# --- the beat task -----------------------------------------------------------


def _published():
    """(handle, task name, args) of the push tasks waiting on the configured broker."""
    options = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS
    if "data_folder_in" in options:
        raw = []
        for path in Path(options["data_folder_in"]).glob("*.msg"):
            try:
                raw.append((path, path.read_text()))
            except OSError:
                continue
    else:
        import redis

        client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
        raw = [(item, item) for item in client.lrange("celery", 0, -1)]
    for handle, text in raw:
        message = json.loads(text)
        name = message["headers"].get("task")
        if name in SWEPT_TASKS:
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            yield handle, name, args


def _discard_published():
    for handle, _name, _args in list(_published()):
        if isinstance(handle, Path):
            handle.unlink(missing_ok=True)
        else:
            import redis

            redis.Redis.from_url(django_settings.CELERY_BROKER_URL).lrem("celery", 0, handle)


@pytest.fixture
def broker():
    _discard_published()
    yield
    _discard_published()


def test_the_sweep_task_enqueues_each_lost_push_once_and_logs_one_line(
    broker, device, send, alice, bob, room, caplog
):
    phone = device(bob, "android", "bob-phone")
    lost = send(alice, room, "never enqueued")
    killed = send(alice, room, "worker killed")
    open_row(phone, killed, state=State.SENDING, lease_until=timezone.now())
    key = f"clear:{room.pk}:{killed.seq}"
    PushDelivery.objects.create(device=phone, kind="clear", key=key, room=room, seq=killed.seq)
    # Two minutes later:
    Message.objects.update(created_at=later(-120))
    PushDelivery.objects.update(created_at=later(-120))
    with caplog.at_level(logging.INFO, logger="devices.tasks"):
        push_sweep()
    published = sorted((name, args) for _, name, args in _published())
    assert published == [
        ("devices.tasks.push_clear", [bob.pk, room.pk, killed.seq, None]),
        ("devices.tasks.push_message", [lost.pk]),
        ("devices.tasks.push_message", [killed.pk]),
    ]
    [line] = [r.getMessage() for r in caplog.records if r.name == tasks.logger.name]
    assert line == (
        "push sweep: 2 messages undecided, 2 deliveries abandoned; "
        "enqueued again: 2 message, 1 clear, 0 test tasks"
    )


# --- pruning -----------------------------------------------------------------


def test_decisions_are_pruned_once_their_message_has_left_the_window(send, alice, room):
    old, recent = send(alice, room), send(alice, room)
    PushDecision.objects.create(message_id=old.pk)
    PushDecision.objects.create(message_id=recent.pk)
    PushDecision.objects.filter(message_id=old.pk).update(decided_at=later(-3601))
    tasks.push_deliveries_prune()
    assert list(PushDecision.objects.values_list("message_id", flat=True)) == [recent.pk]
