"""Usage statistics tasks: thin wrappers that parse ids and call ``stats.services``.

Every task is idempotent: a recompute overwrites the day's row with counts
read from the database, and a mark is a get-or-create.
"""

from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

from . import services


@shared_task(ignore_result=True)
def usage_recompute(day):
    services.usage_recompute(day=date.fromisoformat(day))


@shared_task(ignore_result=True)
def active_user_mark(user_id, day):
    services.active_user_mark(user_id=user_id, day=date.fromisoformat(day))


@shared_task(ignore_result=True)
def usage_sweep():
    """Beat's safety net: recount yesterday and today, whatever events were lost."""
    today = timezone.now().date()
    for day in (today - timedelta(days=1), today):
        services.usage_recompute(day=day)
