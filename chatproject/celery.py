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


def _survive_broker_loss_with_unacked_tasks():
    """Keep the worker alive when Redis goes away while it holds unacknowledged tasks.

    On a lost broker connection Celery 5.7 first collects the connection
    (which forgets its address), then closes it; closing the channel tries to
    requeue the unacknowledged tasks and dies with AttributeError, an error
    Celery does not expect, so the whole worker exits (tests/reliability,
    Redis restart). Raising a connection error instead lets Celery carry on
    reconnecting; the tasks stay in Redis's unacked set and are restored
    from there. TODO(kombu): remove when a kombu release fixes _connparams.
    """
    from kombu.transport import redis as kombu_redis

    if kombu_redis.redis is None or getattr(kombu_redis.Channel, "_chat_patched", False):
        return
    original = kombu_redis.Channel._connparams

    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise kombu_redis.redis.exceptions.ConnectionError("broker connection already closed")
        return original(self, asynchronous)

    kombu_redis.Channel._connparams = _connparams
    kombu_redis.Channel._chat_patched = True


_survive_broker_loss_with_unacked_tasks()
