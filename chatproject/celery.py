"""The Celery app: ``celery -A chatproject worker``.

Tasks live in each app's ``tasks.py`` and are found by autodiscovery. The
broker is Redis when ``REDIS_URL`` is set, else a folder on disk (see
settings); tasks are never run eagerly by the service.
"""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")

app = Celery("chatproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect(dispatch_uid="chatproject.refuse_bad_configuration")
@signals.beat_init.connect(dispatch_uid="chatproject.refuse_bad_configuration_beat")
def refuse_bad_configuration(**kwargs):
    """A production worker or beat exits with one line on a broken configuration."""
    from ops.startup import refuse_to_start_if_misconfigured

    refuse_to_start_if_misconfigured()
