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


def preference_for(user):
    """The user's preferences as the API shows them; a missing row means the defaults.

    ``muted_rooms`` lists only rooms the user still belongs to.
    """
    pref = NotificationPreference.objects.filter(user=user).first()
    if pref is None:
        pref = NotificationPreference(user=user)
        muted = []
    else:
        muted = sorted(pref.muted_rooms.filter(memberships__user=user).values_list("pk", flat=True))
    return {
        "push": pref.push,
        "email": pref.email,
        "email_delay_seconds": pref.email_delay_seconds,
        "muted_rooms": muted,
    }


def email_delays(user_ids):
    """``{user_id: email delay in seconds}`` for each of ``user_ids``, defaults included."""
    default = NotificationPreference._meta.get_field("email_delay_seconds").default
    delays = dict.fromkeys(user_ids, default)
    delays.update(
        NotificationPreference.objects.filter(user_id__in=list(user_ids)).values_list(
            "user_id", "email_delay_seconds"
        )
    )
    return delays
