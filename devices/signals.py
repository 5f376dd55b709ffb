"""The devices app's domain events.

device_registered(device, previous_user_id)
    ``device`` became able to receive pushes for ``device.user``: it was
    registered for the first time, moved from another user
    (``previous_user_id`` is that user's id, else None), or reactivated.
    Sent after commit by ``devices.services.device_register``, whether the
    registration came from ``POST /api/devices/`` or from the
    ``X-Device-ID`` header. Receivers:
    ``stats.receivers.recount_on_device_registered`` (usage statistics).
    Like the chat's receivers, a receiver only decides and enqueues.
"""

from django.dispatch import Signal

device_registered = Signal()
