"""Read-only preference queries, shared with the devices app (push)."""

from .models import NotificationPreference


def _without(user_ids, room_id, **flag):
    """Users among ``user_ids`` minus those with ``flag`` off or who muted ``room_id``."""
    user_ids = set(user_ids)
    off = NotificationPreference.objects.filter(user_id__in=user_ids, **flag).values_list(
        "user_id", flat=True
    )
    muted = NotificationPreference.muted_rooms.through.objects.filter(
        notificationpreference__user_id__in=user_ids, room_id=room_id
    ).values_list("notificationpreference__user_id", flat=True)
    return user_ids - set(off) - set(muted)


def push_recipients(user_ids, room_id):
    """Who of ``user_ids`` wants pushes for messages in ``room_id``."""
    return _without(user_ids, room_id, push=False)


def email_recipients(user_ids, room_id):
    """Who of ``user_ids`` wants missed-message email for ``room_id``."""
    return _without(user_ids, room_id, email=False)
