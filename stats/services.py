"""Computing the daily usage rows; the tasks and the admin call these."""

import logging
from datetime import UTC, datetime, time, timedelta

from django.apps import apps
from django.db import IntegrityError, transaction
from django.db.models import Count

from chat.models import Message

from .models import ActiveUser, DailyUsage

logger = logging.getLogger(__name__)


def _bounds(day):
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _new_devices(start, end):
    try:
        device_model = apps.get_model("devices", "Device")
    except LookupError:
        return {}
    rows = (
        device_model.objects.filter(created_at__gte=start, created_at__lt=end)
        .values("platform")
        .annotate(n=Count("pk"))
    )
    return {row["platform"]: row["n"] for row in rows}


def usage_recompute(*, day):
    """Count ``day`` (a UTC date) from the database and store it; returns the row."""
    start, end = _bounds(day)
    messages = Message.objects.filter(created_at__gte=start, created_at__lt=end)
    authors = set(messages.values_list("author_id", flat=True).distinct())
    online = set(ActiveUser.objects.filter(day=day).values_list("user_id", flat=True))
    counts = {
        "messages": messages.count(),
        "active_rooms": messages.values("room_id").distinct().count(),
        "active_users": len(authors | online),
        "new_devices": _new_devices(start, end),
    }
    try:
        with transaction.atomic():
            row, _ = DailyUsage.objects.update_or_create(day=day, defaults=counts)
    except IntegrityError:
        # Another worker created the day's row between our read and insert.
        row, _ = DailyUsage.objects.update_or_create(day=day, defaults=counts)
    logger.info("usage of %s: %s messages, %s active users", day, row.messages, row.active_users)
    return row


def active_user_mark(*, user_id, day):
    """Remember that the user was active on ``day``; marking twice changes nothing."""
    try:
        with transaction.atomic():
            ActiveUser.objects.get_or_create(day=day, user_id=user_id)
    except IntegrityError:
        pass  # the same mark raced us: it exists either way
