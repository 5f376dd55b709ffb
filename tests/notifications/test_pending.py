"""Recording missed messages in the worker: enqueued once after commit, idempotent, never lost."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from chat import services as chat
from chat.models import Message
from chatproject import enqueue
from notifications import services, tasks
from notifications.models import Digest, PendedMessage, PendingNotification
from tests import broker

from .conftest import PEND_TASK

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def published():
    """``published()``: the pend task calls published since the test began, taken off the broker."""
    # An earlier test's calls may still wait in the publisher's linger window.
    assert enqueue.flush(timeout=10)
    broker.take(PEND_TASK)

    def take():
        assert enqueue.flush(timeout=10)
        return broker.take(PEND_TASK)

    return take


def sent_without_its_task(published, user, room, body, client_id):
    """A stored message whose pend task was lost on the way to the worker."""
    message, _ = chat.message_send(user=user, room_id=room.pk, body=body, client_id=client_id)
    assert published() == [[[message.pk]]]  # published, then dropped here: never run
    return message


def test_a_send_publishes_its_message_id_and_records_nothing_on_the_senders_thread(
    published, alice, bob, room
):
    message, _ = chat.message_send(user=alice, room_id=room.pk, body="hi", client_id="p-1")
    assert published() == [[[message.pk]]]
    assert not PendingNotification.objects.exists()
    assert not PendedMessage.objects.exists()


def test_a_burst_of_sends_is_published_as_one_pend_task_carrying_every_id(
    published, alice, bob, room
):
    results = chat.message_send_batch(
        sends=[
            {"user": alice, "room_id": room.pk, "body": f"burst {n}", "client_id": f"b-{n}"}
            for n in range(100)
        ]
    )
    ids = [message.pk for message, _ in results]
    calls = published()
    # Normally one call; a machine stalled for longer than the publisher's
    # idle wait between two messages may split it, never into one per message.
    assert len(calls) <= 3
    assert [pk for (message_ids,) in calls for pk in message_ids] == ids


def test_a_rolled_back_send_enqueues_nothing(published, alice, bob, room, windows_close):
    with pytest.raises(RuntimeError), transaction.atomic():
        chat.message_send(user=alice, room_id=room.pk, body="never", client_id="rb-1")
        raise RuntimeError("the request failed after the send")
    assert published() == []
    assert not Message.objects.exists()
    assert windows_close() == []


def test_running_the_pend_task_twice_records_each_message_once(published, alice, bob, room):
    message, _ = chat.message_send(user=alice, room_id=room.pk, body="once", client_id="i-1")
    ((message_ids,),) = published()
    tasks.digest_pend_messages(message_ids)
    tasks.digest_pend_messages(message_ids)
    assert PendingNotification.objects.filter(user=bob, message=message).count() == 1
    assert Digest.objects.count() == 1

    # Even after the digest went out, a late duplicate opens nothing new.
    services.digest_sweep(now=timezone.now() + timedelta(days=1))
    assert len(mail.outbox) == 1
    tasks.digest_pend_messages(message_ids)
    services.digest_sweep(now=timezone.now() + timedelta(days=2))
    assert Digest.objects.count() == 1 and len(mail.outbox) == 1


def test_the_sweep_records_a_message_whose_pend_task_was_lost(
    published, alice, bob, room, windows_close
):
    message = sent_without_its_task(published, alice, room=room, body="lost?", client_id="l-1")

    # Within the grace period the task may still be on its way: the sweep waits.
    assert services.digest_pend_missed() == []
    assert not PendingNotification.objects.exists()

    later = timezone.now() + timedelta(seconds=61)
    assert len(services.digest_pend_missed(now=later)) == 1
    assert PendingNotification.objects.get().message == message
    assert services.digest_pend_missed(now=later + timedelta(seconds=60)) == []

    (email,) = windows_close()
    assert "lost?" in email.body
    # The lost task turning up after all records nothing more.
    tasks.digest_pend_messages([message.pk])
    assert PendingNotification.objects.count() == 1 and Digest.objects.count() == 1


def test_the_sweep_task_schedules_the_digests_it_opens(published, alice, bob, room, settings):
    settings.NOTIFICATIONS_PEND_GRACE_SECONDS = 0
    sent_without_its_task(published, alice, room=room, body="swept", client_id="s-1")
    broker.take("notifications.tasks.digest_send")
    tasks.digest_sweep()
    (digest_id,) = Digest.objects.values_list("pk", flat=True)
    assert broker.take("notifications.tasks.digest_send") == [[digest_id]]


def test_messages_older_than_the_window_are_left_alone_and_old_markers_are_forgotten(
    published, send, alice, bob, room
):
    handled = send(alice, room, "handled in time")
    sent_without_its_task(published, alice, room=room, body="too late", client_id="o-1")
    assert PendedMessage.objects.filter(message=handled).exists()

    past_the_window = timezone.now() + timedelta(seconds=3600 + 1)
    assert services.digest_pend_missed(now=past_the_window) == []
    assert not PendedMessage.objects.exists()
    assert PendingNotification.objects.get().message == handled


def test_a_message_deleted_or_read_before_its_task_runs_is_not_recorded(
    published, alice, bob, carol, room
):
    chat.membership_add(actor=alice, room_id=room.pk, user_id=carol.pk)
    gone, _ = chat.message_send(user=alice, room_id=room.pk, body="oops", client_id="d-1")
    chat.message_delete(user=alice, message_id=gone.pk)
    read, _ = chat.message_send(user=alice, room_id=room.pk, body="seen", client_id="d-2")
    chat.message_read(user=bob, room_id=room.pk, seq=read.seq)
    for (message_ids,) in published():
        tasks.digest_pend_messages(message_ids)
    assert list(PendingNotification.objects.values_list("user__username", "message")) == [
        ("carol", read.pk)
    ]
    assert PendedMessage.objects.count() == 2
