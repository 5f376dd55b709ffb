"""The default backend: writes each push it would send to the worker's log."""

import logging

from .base import SENT, PushBackend

logger = logging.getLogger(__name__)


class LogBackend(PushBackend):
    """Needs no credentials; ``make run`` shows every push in the worker log."""

    name = "log"
    supports_clear = True

    def send(self, device, push):
        logger.info(
            "push (log backend): %s to device %s (%s) of user %s, room %s seq %s",
            push.kind,
            device.pk,
            device.platform,
            device.user_id,
            push.data.get("room", "-"),
            push.data.get("seq", "-"),
        )
        return SENT
