"""What in-process tests published to the configured Celery broker, read back.

No worker consumes the suite's broker. The embedded broker (no REDIS_URL)
keeps each task message as a file in its queue folder; Redis (CI) keeps them
in the default queue's list.
"""

import base64
import json
from pathlib import Path

from django.conf import settings


def _messages():
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    if "data_folder_in" in options:
        for path in sorted(Path(options["data_folder_in"]).glob("*.msg")):
            try:
                yield path, json.loads(path.read_text())
            except (OSError, ValueError):
                continue
    else:
        import redis

        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        # Kombu pushes to the left and workers pop from the right: oldest last.
        for raw in reversed(client.lrange("celery", 0, -1)):
            yield raw, json.loads(raw)


def _discard(handle):
    if isinstance(handle, Path):
        handle.unlink(missing_ok=True)
    else:
        import redis

        redis.Redis.from_url(settings.CELERY_BROKER_URL).lrem("celery", 0, handle)


def take(task_name):
    """Remove the published calls of ``task_name`` from the broker; their argument lists."""
    calls = []
    for handle, message in _messages():
        if message["headers"].get("task") == task_name:
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            calls.append(args)
            _discard(handle)
    return calls
