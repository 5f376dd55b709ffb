"""The Celery app: ``celery -A chatproject worker``.

Tasks live in each app's ``tasks.py`` and are found by autodiscovery. The
broker is Redis when ``REDIS_URL`` is set, else a folder on disk (see
settings); tasks are never run eagerly by the service.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")

app = Celery("chatproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
