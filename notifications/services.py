"""Write use cases of the notifications app: preferences and missed-message digests.

The digest life cycle (docs/notifications.md, "Missed-message digests"):

1. ``digest_pend`` runs in a worker a moment after a message was sent (the
   receiver only enqueues its id). For each member who should hear about it
   by email it records a ``PendingNotification`` and attaches it to the
   member's open ``Digest``, opening one (the batch window) when there is
   none, and marks the message pended in the same transaction. A message
   whose task was lost has no marker after a grace period:
   ``digest_pend_missed`` (the sweep) pends it then, so nothing is lost.
2. Read markers and deletions drop matching pending rows (``pending_drop_*``).
3. ``digest_deliver`` runs when the window closes: it claims the digest
   (open -> sending) under a row lock, re-checks every message (still
   unread, not deleted, room not muted, email still on), sends one email
   outside any transaction, then marks the digest and its rows sent.
4. ``digest_sweep`` delivers digests whose task was lost and reclaims those
   whose worker died while sending.
"""

import logging
import smtplib
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from chat.models import Membership, Message
from chat.presence import online_user_ids
from ops import metrics

from . import emails
from .models import (
    EMAIL_DELAY_MAX,
    Digest,
    NotificationPreference,
    PendedMessage,
    PendingNotification,
)
from .selectors import email_delays, email_recipients

logger = logging.getLogger(__name__)

_UNSET = object()

# The sweep pends messages whose task was lost this many at a time, and at
# most this many slices per run, so that one run stays short.
PEND_SWEEP_SLICE = 500
PEND_SWEEP_SLICES = 10


# --- preferences --------------------------------------------------------


def preference_update(
    *, user, push=_UNSET, email=_UNSET, email_delay_seconds=_UNSET, muted_room_ids=_UNSET
):
    """Change the given preferences of ``user``; the others stay as they are.

    Raises ``ValidationError`` (keyed by field) for a delay out of range or a
    muted room that the user does not belong to (or that does not exist).
    """
    errors = {}
    if email_delay_seconds is not _UNSET and not 0 <= email_delay_seconds <= EMAIL_DELAY_MAX:
        errors["email_delay_seconds"] = [f"Must be between 0 and {EMAIL_DELAY_MAX} seconds."]
    if muted_room_ids is not _UNSET:
        muted_room_ids = set(muted_room_ids)
        member_of = set(
            Membership.objects.filter(user=user, room_id__in=muted_room_ids).values_list(
                "room_id", flat=True
            )
        )
        strangers = sorted(muted_room_ids - member_of)
        if strangers:
            errors["muted_rooms"] = [f"Not rooms you belong to: {strangers}."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        pref, _ = NotificationPreference.objects.select_for_update().get_or_create(user=user)
        changed = []
        for field, value in (
            ("push", push),
            ("email", email),
            ("email_delay_seconds", email_delay_seconds),
        ):
            if value is not _UNSET:
                setattr(pref, field, value)
                changed.append(field)
        if changed:
            pref.save(update_fields=changed)
        if muted_room_ids is not _UNSET:
            # Rooms the user has left stay out of the API's view anyway; keep
            # only what was asked for.
            pref.muted_rooms.set(muted_room_ids)
    logger.info("notification preferences of user %s changed: %s", user.pk, changed)
    return pref


def email_unsubscribe(*, user):
    """Turn missed-message email off (the one-click link in every digest)."""
    return preference_update(user=user, email=False)


# --- pending notifications ----------------------------------------------


def digest_pend(*, message):
    """Record ``message``, once, for each member who should get it by email.

    Who: members of the room other than the author who have not read it,
    active and with an email address, with email on and the room not muted,
    and not connected at the moment this runs (in a worker, a moment after
    the send). A ``PendedMessage`` marker commits with the rows, so a second
    run for the same message records nothing. Returns the digests this call
    opened as ``(id, due_at)`` pairs: the caller schedules their delivery.
    Messages for users who already have an open digest join it.
    """
    if PendedMessage.objects.filter(message_id=message.pk).exists():
        return []
    recipients = set() if message.deleted else _missing_now(message)
    try:
        return _pend(message, recipients)
    except IntegrityError:
        # Another message opened a digest for one of these users between our
        # read and our insert (PostgreSQL); the second pass joins it.
        return _pend(message, recipients)


def _missing_now(message):
    """The users who should hear about ``message`` by email, as of now."""
    members = set(
        Membership.objects.filter(room_id=message.room_id, last_read_seq__lt=message.seq)
        .exclude(user_id=message.author_id)
        .values_list("user_id", flat=True)
    )
    if not members:
        return set()
    candidates = email_recipients(members, message.room_id)
    candidates = set(
        get_user_model()
        .objects.filter(pk__in=candidates, is_active=True)
        .exclude(email="")
        .values_list("pk", flat=True)
    )
    return candidates - online_user_ids(candidates)


def _pend(message, recipients):
    now = timezone.now()
    with transaction.atomic():
        # The marker goes first: a concurrent run for the same message (the
        # task and the sweep) waits here for ours to commit, then finds it.
        _, created = PendedMessage.objects.get_or_create(message_id=message.pk)
        if not created or not recipients:
            return []
        # Locking the open digests stops a delivery from claiming one of them
        # between our read and our insert, which would strand the new row.
        open_digests = {
            d.user_id: d
            for d in Digest.objects.select_for_update().filter(
                user_id__in=recipients, status=Digest.Status.OPEN
            )
        }
        delays = email_delays(recipients - set(open_digests))
        opened = Digest.objects.bulk_create(
            [
                Digest(user_id=uid, due_at=now + timedelta(seconds=delay))
                for uid, delay in delays.items()
            ]
        )
        open_digests.update({d.user_id: d for d in opened})
        PendingNotification.objects.bulk_create(
            [
                PendingNotification(
                    user_id=uid,
                    message_id=message.pk,
                    room_id=message.room_id,
                    seq=message.seq,
                    digest=open_digests[uid],
                )
                for uid in recipients
            ],
            ignore_conflicts=True,
        )
    logger.info(
        "message %s pending for %s users (%s new digests)", message.pk, len(recipients), len(opened)
    )
    return [(d.pk, d.due_at) for d in opened]


def digest_pend_messages(*, message_ids):
    """``digest_pend`` for each of ``message_ids`` not pended yet; the digests opened.

    Ids of messages that no longer exist are skipped. A message that fails
    is logged and left without its marker, so the sweep tries it again.
    """
    messages = (
        Message.objects.filter(pk__in=message_ids)
        .filter(~Exists(PendedMessage.objects.filter(message_id=OuterRef("pk"))))
        .order_by("pk")
    )
    opened = []
    for message in messages:
        try:
            opened += digest_pend(message=message)
        except Exception:
            logger.exception("could not pend message %s; the sweep will retry", message.pk)
    return opened


def digest_pend_missed(*, now=None):
    """Pend recent messages whose pend task never ran; forget markers past the window.

    "Recent" is older than ``NOTIFICATIONS_PEND_GRACE_SECONDS`` (their task
    has had time to run) and younger than ``NOTIFICATIONS_PEND_WINDOW_SECONDS``.
    Works through them in slices of ``PEND_SWEEP_SLICE``, at most
    ``PEND_SWEEP_SLICES`` per call; the next sweep carries on. Returns the
    digests opened, for the caller to schedule.
    """
    now = now or timezone.now()
    newest = now - timedelta(seconds=settings.NOTIFICATIONS_PEND_GRACE_SECONDS)
    oldest = now - timedelta(seconds=settings.NOTIFICATIONS_PEND_WINDOW_SECONDS)
    missed = Message.objects.filter(created_at__gte=oldest, created_at__lte=newest).filter(
        ~Exists(PendedMessage.objects.filter(message_id=OuterRef("pk")))
    )
    opened = []
    after = 0
    for _ in range(PEND_SWEEP_SLICES):
        ids = list(
            missed.filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:PEND_SWEEP_SLICE]
        )
        if not ids:
            break
        logger.warning("pending %s messages whose pend task never ran", len(ids))
        opened += digest_pend_messages(message_ids=ids)
        after = ids[-1]
    # A marker older than the window belongs to a message the sweep no longer
    # looks at (the message is older still).
    PendedMessage.objects.filter(pended_at__lt=oldest).delete()
    return opened


def pending_drop_read(*, user_id, room_id, seq):
    """The user read ``room_id`` up to ``seq``: those messages need no email."""
    dropped, _ = PendingNotification.objects.filter(
        user_id=user_id, room_id=room_id, seq__lte=seq, sent_at=None
    ).delete()
    if dropped:
        logger.debug("dropped %s pending for user %s in room %s", dropped, user_id, room_id)
    return dropped


def pending_drop_message(*, message_id):
    """The message was deleted: nobody gets it by email any more."""
    dropped, _ = PendingNotification.objects.filter(message_id=message_id, sent_at=None).delete()
    return dropped


# --- delivery -----------------------------------------------------------


class Outcome:
    """What ``digest_deliver`` did, for the task and for logs."""

    SENT = "sent"
    EMPTY = "empty"
    NOT_OPEN = "not_open"
    EARLY = "early"
    FAILED = "failed"


def smtp_transient(exc):
    """Whether sending may succeed if tried again later (4xx replies, network trouble)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPException):
        return isinstance(exc, smtplib.SMTPServerDisconnected)
    # Refused connections, timeouts, name lookups: the server may be back soon.
    return isinstance(exc, OSError)


def digest_deliver(*, digest_id, now=None):
    """Send the digest's email if it is open and due; at most once per digest.

    The SMTP exchange happens after the claim has committed and before the
    digest is marked sent. Transient SMTP errors release the claim (the
    digest is open again) and propagate for the caller to retry.
    """
    now = now or timezone.now()
    claim = uuid.uuid4().hex
    with transaction.atomic():
        digest = (
            Digest.objects.select_for_update().select_related("user").filter(pk=digest_id).first()
        )
        if digest is None or digest.status != Digest.Status.OPEN:
            return Outcome.NOT_OPEN
        if digest.due_at > now:
            return Outcome.EARLY
        digest.status = Digest.Status.SENDING
        digest.claim = claim
        digest.claimed_at = now
        digest.save(update_fields=["status", "claim", "claimed_at"])
        items = list(
            digest.items.filter(sent_at=None).select_related("message", "message__author", "room")
        )
    user = digest.user
    keep = _still_missed(user, items)
    kept_ids = {i.pk for i in keep}
    drop_ids = [i.pk for i in items if i.pk not in kept_ids]
    if not keep:
        _finish(digest, claim, Digest.Status.EMPTY, now, drop_ids=drop_ids)
        logger.info("digest %s of user %s had nothing left to send", digest.pk, user.pk)
        return Outcome.EMPTY
    message = emails.digest_email(user=user, digest=digest, items=keep)
    try:
        message.send(fail_silently=False)
    except Exception as exc:
        if smtp_transient(exc):
            # Open again, so that the retry (or the sweep) sends it once.
            Digest.objects.filter(pk=digest.pk, claim=claim).update(
                status=Digest.Status.OPEN, claim="", claimed_at=None
            )
            metrics.email_counted(outcome="retried", reason=type(exc).__name__)
            raise
        _finish(digest, claim, Digest.Status.FAILED, now)
        metrics.email_counted(outcome="failed", reason=type(exc).__name__)
        logger.exception("digest %s to user %s failed for good", digest.pk, user.pk)
        return Outcome.FAILED
    _finish(digest, claim, Digest.Status.SENT, now, drop_ids=drop_ids, sent_ids=kept_ids)
    metrics.email_counted(outcome="sent")
    logger.info("digest %s sent to user %s with %s messages", digest.pk, user.pk, len(keep))
    return Outcome.SENT


def digest_fail(*, digest_id):
    """Give up on a digest whose sending kept failing (the task's retries ran out)."""
    failed = Digest.objects.filter(pk=digest_id, status=Digest.Status.OPEN).update(
        status=Digest.Status.FAILED
    )
    if failed:
        metrics.email_counted(outcome="failed", reason="retries_exhausted")


def _still_missed(user, items):
    """The items the user should still hear about, in room then seq order."""
    pref = NotificationPreference.objects.filter(user=user).first()
    if not user.is_active or not user.email or (pref is not None and not pref.email):
        return []
    muted = set(pref.muted_rooms.values_list("pk", flat=True)) if pref else set()
    read_up_to = dict(
        Membership.objects.filter(user=user, room_id__in={i.room_id for i in items}).values_list(
            "room_id", "last_read_seq"
        )
    )
    keep = [
        i
        for i in items
        if i.room_id in read_up_to
        and i.room_id not in muted
        and i.seq > read_up_to[i.room_id]
        and not i.message.deleted
    ]
    return sorted(keep, key=lambda i: (i.room_id, i.seq))


def _finish(digest, claim, status, now, *, drop_ids=(), sent_ids=()):
    with transaction.atomic():
        Digest.objects.filter(pk=digest.pk, claim=claim).update(
            status=status,
            sent_at=now if status == Digest.Status.SENT else None,
            message_count=len(sent_ids),
        )
        if sent_ids:
            PendingNotification.objects.filter(pk__in=sent_ids).update(sent_at=now)
        if drop_ids:
            PendingNotification.objects.filter(pk__in=drop_ids, sent_at=None).delete()


def digest_sweep(*, now=None):
    """Deliver digests whose window closed but whose task never ran; forget old ones.

    A digest stuck in "sending" for longer than
    ``NOTIFICATIONS_STALE_SENDING_SECONDS`` belonged to a worker that died
    mid-send: it is reopened and sent again (its one email may repeat).
    Returns the outcomes by digest id.
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.NOTIFICATIONS_STALE_SENDING_SECONDS)
    reopened = Digest.objects.filter(status=Digest.Status.SENDING, claimed_at__lt=stale).update(
        status=Digest.Status.OPEN, claim="", claimed_at=None
    )
    if reopened:
        logger.warning("reopened %s digests abandoned while sending", reopened)
    overdue = now - timedelta(seconds=settings.NOTIFICATIONS_SWEEP_GRACE_SECONDS)
    due_ids = list(
        Digest.objects.filter(status=Digest.Status.OPEN, due_at__lte=overdue)
        .order_by("due_at")
        .values_list("pk", flat=True)[:200]
    )
    outcomes = {}
    for digest_id in due_ids:
        try:
            outcomes[digest_id] = digest_deliver(digest_id=digest_id, now=now)
        except Exception as exc:
            if not smtp_transient(exc):
                raise
            logger.warning("sweep could not send digest %s yet", digest_id, exc_info=True)
            outcomes[digest_id] = "retry"
    forget = now - timedelta(days=settings.NOTIFICATIONS_RETENTION_DAYS)
    Digest.objects.filter(
        status__in=[Digest.Status.SENT, Digest.Status.EMPTY, Digest.Status.FAILED],
        created_at__lt=forget,
    ).delete()
    return outcomes
