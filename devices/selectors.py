"""Read-only device queries."""

from django.db.models import Exists, OuterRef, Q

from chat.models import Message

from .models import Device, PushDecision, PushDelivery


def devices_of_user(user):
    """The user's active devices, most recently seen first."""
    return Device.objects.filter(user=user, active=True).order_by("-last_seen_at", "-pk")


def _others_have_devices():
    """For a message queryset: a member of its room other than its author has an active device."""
    return Exists(
        Device.objects.filter(active=True, user__memberships__room_id=OuterRef("room_id")).exclude(
            user_id=OuterRef("author_id")
        )
    )


def messages_to_push(message_ids):
    """Of ``message_ids``, those that may need a push, in id order.

    Not deleted, and some member other than the author has an active
    device; who exactly gets a push is ``delivery.push_message_deliver``'s
    business. One query for a whole coalesced list.
    """
    return list(
        Message.objects.filter(pk__in=list(message_ids), deleted_at=None)
        .filter(_others_have_devices())
        .order_by("pk")
        .values_list("pk", flat=True)
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
    (``messages_to_push``), as it stands now; deleted ones push nothing. Oldest first, at most
    ``limit``; the range scan runs on the messages' ``created_at`` index.
    """
    decided = PushDecision.objects.filter(message_id=OuterRef("pk"))
    return list(
        Message.objects.filter(
            created_at__gte=created_after, created_at__lt=created_before, deleted_at=None
        )
        .filter(~Exists(decided), _others_have_devices())
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
