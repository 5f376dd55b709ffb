"""Push providers behind one small interface (docs/push.md, "Backends").

``backend_for(platform)`` returns a fresh backend for one batch, chosen by
``PUSH_BACKENDS``: ``log`` (the default, needs no credentials), ``fcm``,
``apns``, ``webpush``, or a dotted path to a ``PushBackend`` subclass.
"""

from django.conf import settings
from django.utils.module_loading import import_string

BACKENDS = {
    "log": "devices.push.log.LogBackend",
    "fcm": "devices.push.fcm.FCMBackend",
    "apns": "devices.push.apns.APNsBackend",
    "webpush": "devices.push.webpush.WebPushBackend",
}


def backend_name(platform):
    return settings.PUSH_BACKENDS.get(platform, "log")


def backend_class(name):
    return import_string(BACKENDS.get(name, name))


def backend_for(platform):
    return backend_class(backend_name(platform))()
