"""Read-only device queries."""

from .models import Device, PushDelivery


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
