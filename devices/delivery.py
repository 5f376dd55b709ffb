"""Deciding who gets a push, and sending it exactly once per device (docs/push.md).

Each ``push_*_deliver`` service re-reads the state when it runs, records one
``PushDelivery`` row per (device, push) and sends the pushes one by one,
grouped by provider so that a batch shares one connection and one
credential. A row is claimed (``sending``, with a lease) before its provider
request and marked ``sent`` after it, so a task that runs again sends only
what is not marked yet: after a worker is killed, at most the one request
that was in flight is repeated. No transaction is open during a request.

``push_sweep_find`` is the safety net under the tasks themselves: it finds
the messages whose push task never ran and the pushes a task abandoned, so
that the sweep can enqueue them again (docs/push.md, "The sweep").
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from chat.models import Membership, Message
from chat.presence import online_user_ids
from notifications.selectors import push_recipients
from ops import metrics

from . import selectors, services
from .models import Device, PushDecision, PushDelivery
from .push import backend_class, backend_name, payloads
from .push.base import BackendError, Outcome, Result

logger = logging.getLogger(__name__)

State = PushDelivery.State
# This many transient failures in a row and the provider is probably down:
# the rest of its batch waits for the retry instead of timing out one by one.
MAX_CONSECUTIVE_TRANSIENT = 3
# Most rows each of the sweep's two searches reads per run; what is left
# over is found by the next run.
SWEEP_LIMIT = 500


@dataclass
class BatchResult:
    sent: int = 0
    deactivated: int = 0
    failed: int = 0
    # Pushes left for a later attempt (transient errors, or claimed by a
    # worker that may still be sending them).
    deferred: int = 0
    # The deferred rows that wait for the task's retry (not those leased by
    # another worker, which that worker finishes).
    deferred_ids: list = field(default_factory=list)
    retry_after: float | None = None

    def defer(self, count=1, retry_after=None, *, ids=()):
        self.deferred += count
        self.deferred_ids.extend(ids)
        if retry_after is not None:
            self.retry_after = max(self.retry_after or 0.0, retry_after)


def push_message_deliver(*, message_id, final=False):
    """Push a new message to every member who should get it; see the module docstring.

    Skipped: the author, members who read it already, who are connected,
    who turned push off or muted the room, deactivated users, inactive
    devices; and everyone when the message is gone or deleted. ``final``
    marks the last attempt: transient failures become failures.
    """
    key = f"message:{message_id}"
    message = Message.objects.select_related("room", "author").filter(pk=message_id).first()
    if message is None:
        _skip_unsent(key, keep_device_ids=())
        return BatchResult()
    if message.deleted:
        _skip_unsent(key, keep_device_ids=())
        _decided(message_id)
        return BatchResult()
    unread = set(
        Membership.objects.filter(room_id=message.room_id, last_read_seq__lt=message.seq)
        .exclude(user_id=message.author_id)
        .filter(user__is_active=True)
        .values_list("user_id", flat=True)
    )
    wanted = push_recipients(unread, message.room_id)
    wanted -= online_user_ids(wanted)
    devices = list(Device.objects.filter(user_id__in=wanted, active=True).order_by("pk"))
    result = _deliver(
        kind=PushDelivery.Kind.MESSAGE,
        key=key,
        room_id=message.room_id,
        seq=message.seq,
        devices=devices,
        push=payloads.message_push(message),
        final=final,
    )
    _decided(message_id)
    _log(key, result)
    return result


def _decided(message_id):
    """Record that the message's push task ran, so that the sweep leaves the message alone."""
    PushDecision.objects.bulk_create([PushDecision(message_id=message_id)], ignore_conflicts=True)


def push_clear_deliver(*, user_id, room_id, seq, previous_seq, final=False):
    """Tell the user's devices that were pushed messages up to ``seq`` to clear them.

    ``previous_seq`` None finishes a clear that the sweep found abandoned:
    its devices are then the user's devices that already have a row for it,
    neither more (a device pushed only earlier messages was cleared then)
    nor fewer (so that none of those rows is skipped).
    """
    key = f"clear:{room_id}:{seq}"
    if previous_seq is None:
        meant = PushDelivery.objects.filter(device=OuterRef("pk"), key=key)
    else:
        meant = PushDelivery.objects.filter(
            device=OuterRef("pk"),
            kind=PushDelivery.Kind.MESSAGE,
            room_id=room_id,
            seq__gt=previous_seq,
            seq__lte=seq,
            state=State.SENT,
        )
    devices = [
        device
        for device in Device.objects.filter(user_id=user_id, active=True)
        .filter(Exists(meant))
        .order_by("pk")
        if backend_class(backend_name(device.platform)).supports_clear
    ]
    result = _deliver(
        kind=PushDelivery.Kind.CLEAR,
        key=key,
        room_id=room_id,
        seq=seq,
        devices=devices,
        push=payloads.clear_push(room_id, seq),
        final=final,
        # Two members reading a room up to the same seq share the key; each
        # task answers for its own user's rows only.
        user_id=user_id,
    )
    _log(key, result)
    return result


def push_test_deliver(*, device_id, nonce, final=False):
    """The admin's test push to one device, active or not."""
    devices = list(Device.objects.filter(pk=device_id))
    result = _deliver(
        kind=PushDelivery.Kind.TEST,
        key=f"test:{nonce}",
        room_id=None,
        seq=None,
        devices=devices,
        push=payloads.test_push(),
        final=final,
        require_active=False,
    )
    _log(f"test:{nonce}", result)
    return result


def _log(key, result):
    logger.info(
        "push %s: %s sent, %s deactivated, %s failed, %s deferred",
        key,
        result.sent,
        result.deactivated,
        result.failed,
        result.deferred,
    )


def _skip_unsent(key, keep_device_ids, user_id=None):
    """Rows of devices no longer wanted (read, online, muted, deleted) will not be sent.

    That includes rows a killed worker left ``sending`` whose lease has
    ended: nobody is sending them, and left open the sweep would find them
    again on every run.
    """
    rows = PushDelivery.objects.filter(key=key).filter(
        Q(state=State.PENDING) | Q(state=State.SENDING, lease_until__lt=timezone.now())
    )
    if user_id is not None:
        rows = rows.filter(device__user_id=user_id)
    rows.exclude(device_id__in=list(keep_device_ids)).update(state=State.SKIPPED, lease_until=None)


def _deliver(*, kind, key, room_id, seq, devices, push, final, require_active=True, user_id=None):
    result = BatchResult()
    _skip_unsent(key, [d.pk for d in devices], user_id)
    PushDelivery.objects.bulk_create(
        [PushDelivery(device=d, kind=kind, key=key, room_id=room_id, seq=seq) for d in devices],
        ignore_conflicts=True,
    )
    open_rows = dict(
        PushDelivery.objects.filter(
            key=key, device__in=devices, state__in=[State.PENDING, State.SENDING]
        ).values_list("device_id", "pk")
    )
    groups = defaultdict(list)
    for device in devices:
        if device.pk in open_rows:
            groups[backend_name(device.platform)].append((device, open_rows[device.pk]))
    for name, items in groups.items():
        _send_group(name, items, push, final, result, kind, room_id, seq, require_active)
    return result


def _send_group(name, items, push, final, result, kind, room_id, seq, require_active):
    try:
        backend = backend_class(name)()
        backend.open()
    except BackendError as exc:
        _settle_unsent([pk for _, pk in items], exc.result, final, result, name)
        return
    except Exception as exc:
        # A configuration the backend did not foresee (an unreadable CA file,
        # a bad dotted path): as with any configuration error, log, never retry.
        logger.exception("%s backend could not start", name)
        failure = Result(Outcome.FAILED, f"backend could not start: {type(exc).__name__}")
        _settle_unsent([pk for _, pk in items], failure, final, result, name)
        return
    try:
        transient_in_a_row = 0
        for index, (device, pk) in enumerate(items):
            held = _claim(pk, kind, room_id, seq, require_active)
            if held is None:
                continue
            if held:
                result.defer(retry_after=held)  # the worker holding it finishes it
                continue
            outcome = backend.send(device, push)
            _record(pk, device, outcome, final, result, name)
            transient = outcome.outcome is Outcome.TRANSIENT
            transient_in_a_row = transient_in_a_row + 1 if transient else 0
            if outcome.stop_batch or transient_in_a_row >= MAX_CONSECUTIVE_TRANSIENT:
                rest = [pk for _, pk in items[index + 1 :]]
                _settle_unsent(rest, outcome, final, result, name)
                return
    finally:
        backend.close()


def _claim(pk, kind, room_id, seq, require_active):
    """Take the row for sending; None when it needs no sending, else seconds still leased.

    A ``0`` return means the claim succeeded. The conditional UPDATE is the
    lock: of two workers running the same task, one claims, the other sees
    the lease and defers.
    """
    now = timezone.now()
    lease = timedelta(seconds=settings.PUSH_CLAIM_LEASE)
    rows = PushDelivery.objects.filter(pk=pk, state__in=[State.PENDING, State.SENDING]).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )
    if require_active:
        rows = rows.filter(device__active=True)
    if kind == PushDelivery.Kind.MESSAGE:
        # Read on another device since the batch started: no push.
        read = Membership.objects.filter(
            user_id=OuterRef("device__user_id"), room_id=room_id, last_read_seq__gte=seq
        )
        rows = rows.filter(~Exists(read))
    claimed = rows.update(state=State.SENDING, lease_until=now + lease, attempts=F("attempts") + 1)
    if claimed:
        return 0
    row = PushDelivery.objects.filter(pk=pk).values("state", "lease_until").first()
    if row and row["state"] == State.SENDING and row["lease_until"] and row["lease_until"] > now:
        return max((row["lease_until"] - now).total_seconds(), 0.1)
    if row and row["state"] == State.PENDING:
        PushDelivery.objects.filter(pk=pk, state=State.PENDING).update(state=State.SKIPPED)
    return None


def _record(pk, device, outcome, final, result, name):
    now = timezone.now()
    rows = PushDelivery.objects.filter(pk=pk)
    reason = outcome.reason[:200]
    kind_of = outcome.outcome.value
    if outcome.outcome is Outcome.SENT:
        rows.update(state=State.SENT, sent_at=now, lease_until=None, error="")
        result.sent += 1
        metrics.push_counted(provider=name, outcome="sent")
        logger.debug("push %s sent to device %s", pk, device.pk)
    elif outcome.outcome is Outcome.INVALID_TOKEN:
        rows.update(state=State.FAILED, lease_until=None, error=reason)
        services.device_deactivate(device_id=device.pk, reason=reason)
        result.deactivated += 1
        metrics.push_counted(provider=name, outcome="failed", reason=kind_of)
        metrics.device_deactivation_counted(provider=name, reason=kind_of)
    elif outcome.outcome is Outcome.TRANSIENT and not final:
        rows.update(state=State.PENDING, lease_until=None, error=reason)
        result.defer(retry_after=outcome.retry_after, ids=[pk])
        metrics.push_counted(provider=name, outcome="retried", reason=kind_of)
        logger.warning("push %s to device %s deferred: %s", pk, device.pk, reason)
    else:
        rows.update(state=State.FAILED, lease_until=None, error=reason)
        result.failed += 1
        metrics.push_counted(provider=name, outcome="failed", reason=kind_of)
        logger.error("push %s to device %s failed (%s): %s", pk, device.pk, name, reason)


def _settle_unsent(pks, outcome, final, result, name):
    """Rows that were not attempted because the provider as a whole failed."""
    if not pks:
        return
    rows = PushDelivery.objects.filter(pk__in=pks, state__in=[State.PENDING, State.SENDING]).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=timezone.now())
    )
    if outcome.outcome is Outcome.TRANSIENT and not final:
        result.defer(len(pks), outcome.retry_after, ids=pks)
        metrics.push_counted(
            provider=name, outcome="retried", reason=outcome.outcome.value, count=len(pks)
        )
        logger.warning("%s: %s pushes deferred: %s", name, len(pks), outcome.reason)
    else:
        rows.update(state=State.FAILED, error=f"not sent: {outcome.reason}"[:200])
        result.failed += len(pks)
        metrics.push_counted(
            provider=name, outcome="failed", reason=outcome.outcome.value, count=len(pks)
        )
        logger.error("%s: %s pushes not sent: %s", name, len(pks), outcome.reason)


def push_retry_scheduled(*, ids, countdown):
    """Note that a retry in ``countdown`` seconds will send the deferred pushes ``ids``.

    Until then (and the sweep's grace after it) the sweep leaves those rows
    to the retry, so that a provider's backoff is not undone by the sweep.
    """
    due = timezone.now() + timedelta(seconds=countdown)
    PushDelivery.objects.filter(pk__in=list(ids), state=State.PENDING).update(retry_at=due)


@dataclass
class SweepFindings:
    """What the sweep should enqueue again, each once (``push_sweep_find``)."""

    message_ids: list = field(default_factory=list)
    # (user id, room id, seq) of abandoned clears; (device id, nonce) of test pushes.
    clears: list = field(default_factory=list)
    tests: list = field(default_factory=list)
    # How many messages had no decision, and how many open rows were abandoned.
    undecided: int = 0
    abandoned: int = 0


def push_sweep_find(*, now=None):
    """The pushes whose task was lost, each to be enqueued again once; see ``PushDecision``.

    Two searches, both limited to what was created within
    ``PUSH_SWEEP_WINDOW_SECONDS`` and more than ``PUSH_SWEEP_GRACE_SECONDS``
    ago (so that the live task normally wins):

    - messages in rooms where a member other than the author has an active
      device, with no ``PushDecision``: their task never ran (the process
      died before publishing it, the broker lost it, or a killed worker held
      it);
    - open deliveries nobody is working on: ``sending`` with an expired
      lease, or ``pending``, and no retry due within the grace period.

    Enqueueing again is safe: the tasks send nothing twice.
    """
    now = now or timezone.now()
    grace = timedelta(seconds=settings.PUSH_SWEEP_GRACE_SECONDS)
    since = now - timedelta(seconds=settings.PUSH_SWEEP_WINDOW_SECONDS)
    undecided = selectors.messages_without_push_decision(
        created_after=since, created_before=now - grace, limit=SWEEP_LIMIT
    )
    abandoned = selectors.abandoned_deliveries(
        created_after=since,
        created_before=now - grace,
        lease_ended_by=now,
        retry_due_by=now - grace,
        limit=SWEEP_LIMIT,
    )
    # Ordered sets: one task per message or key, however many rows point at it.
    message_ids, clears, tests = dict.fromkeys(undecided), {}, {}
    for kind, key, user_id, device_id in abandoned:
        # Keys are "message:<id>", "clear:<room>:<seq>", "test:<nonce>" (models.PushDelivery).
        parts = key.split(":")
        if kind == PushDelivery.Kind.MESSAGE:
            message_ids[int(parts[1])] = None
        elif kind == PushDelivery.Kind.CLEAR:
            clears[(user_id, int(parts[1]), int(parts[2]))] = None
        else:
            tests[(device_id, key.partition(":")[2])] = None
    return SweepFindings(
        message_ids=list(message_ids),
        clears=list(clears),
        tests=list(tests),
        undecided=len(undecided),
        abandoned=len(abandoned),
    )


def push_deliveries_prune(*, older_than_days):
    """Delete finished delivery records older than ``older_than_days``; returns how many.

    Only finished rows go: a pending or sending row still guards a push that
    a retry or a redelivered task may need. Push decisions go once their
    message has left the sweep's window (a decision is never older than
    its message), where nobody looks for them.
    """
    decided_before = timezone.now() - timedelta(seconds=settings.PUSH_SWEEP_WINDOW_SECONDS)
    decisions = _delete_in_slices(PushDecision.objects.filter(decided_at__lt=decided_before))
    if decisions:
        logger.info("pruned %s push decisions", decisions)
    cutoff = timezone.now() - timedelta(days=older_than_days)
    finished = [State.SENT, State.FAILED, State.SKIPPED]
    total = _delete_in_slices(
        PushDelivery.objects.filter(created_at__lt=cutoff, state__in=finished)
    )
    if total:
        logger.info("pruned %s push delivery records", total)
    return total


def _delete_in_slices(rows):
    """Delete ``rows`` 5,000 at a time, so that no single statement holds the table for long."""
    total = 0
    while ids := list(rows.values_list("pk", flat=True)[:5000]):
        total += rows.model.objects.filter(pk__in=ids).delete()[0]
    return total
