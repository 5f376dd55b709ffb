"""Read-only device queries."""

from django.db.models import Exists, OuterRef, Q

from chat.models import Message

from .models import Device, PushDecision, PushDelivery


def devices_of_user(user):
    """The user's active devices, most recently seen first."""
    return Device.objects.filter(user=user, active=True).order_by("-last_seen_at", "-pk")


def room_has_push_devices(*, room_id, exclude_user_id):
    """Whether any member but ``exclude_user_id`` has an active device (a cheap pre-check)."""
    return (
        Device.objects.filter(active=True, user__memberships__room_id=room_id)
        .exclude(user_id=exclude_user_id)
        .exists()
    )


def pushed_between(*, user_id, room_id, after_seq, up_to_seq):
    """Whether the user's devices were pushed any message of the room in (after_seq, up_to_seq]."""
    return PushDelivery.objects.filter(
        device__user_id=user_id,
        kind=PushDelivery.Kind.MESSAGE,
        room_id=room_id,
        seq__gt=after_seq,
        seq__lte=up_to_seq,
        state=PushDelivery.State.SENT,
    ).exists()


def messages_without_push_decision(*, created_after, created_before, limit):
    """Ids of messages created in [created_after, created_before) whose push task never ran.

    Only messages the receiver would have enqueued a task for count: those
    in rooms where a member other than the author has an active device
    (``room_has_push_devices``), as it stands now; deleted ones push nothing. Oldest first, at most
    ``limit``; the range scan runs on the messages' ``created_at`` index.
    """
    others_devices = Device.objects.filter(
        active=True, user__memberships__room_id=OuterRef("room_id")
    ).exclude(user_id=OuterRef("author_id"))
    decided = PushDecision.objects.filter(message_id=OuterRef("pk"))
    return list(
        Message.objects.filter(
            created_at__gte=created_after, created_at__lt=created_before, deleted_at=None
        )
        .filter(~Exists(decided), Exists(others_devices))
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


def abandoned_deliveries(*, created_after, created_before, lease_ended_by, retry_due_by, limit):
    """``(kind, key, user id, device id)`` of open deliveries that no task is working on.

    Open rows created in [created_after, created_before) that are pending, or
    sending with a lease that ended by ``lease_ended_by``, and whose retry (if
    one was scheduled) was due by ``retry_due_by``. At most ``limit`` rows,
    found through the partial index of open rows.
    """
    State = PushDelivery.State
    return list(
        PushDelivery.objects.filter(
            state__in=[State.PENDING, State.SENDING],
            created_at__gte=created_after,
            created_at__lt=created_before,
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=lease_ended_by))
        .filter(Q(retry_at__isnull=True) | Q(retry_at__lt=retry_due_by))
        .order_by("created_at")
        .values_list("kind", "key", "device__user_id", "device_id")[:limit]
    )
