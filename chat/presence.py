"""Who is online, readable by every process (daphne nodes and Celery workers).

Each daphne process is a ``PresenceNode`` that refreshes its heartbeat every
third of ``CHAT_PRESENCE_EXPIRY`` seconds and counts its users' open sockets
in ``Presence`` rows. A user is online while any fresh node counts a socket of
theirs; a node that dies without closing its sockets stops counting once its
heartbeat is older than the expiry, and the next live node's heartbeat
announces those users as gone.

Other apps use only ``online_user_ids``.
"""

import os
import socket
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from .models import Presence, PresenceNode

NODE_NAME = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _cutoff():
    return timezone.now() - timedelta(seconds=settings.CHAT_PRESENCE_EXPIRY)


def online_user_ids(user_ids):
    """The subset of ``user_ids`` with at least one open socket on a live node."""
    return set(
        Presence.objects.filter(
            user_id__in=list(user_ids), sockets__gt=0, node__heartbeat_at__gte=_cutoff()
        ).values_list("user_id", flat=True)
    )


def live_socket_count(user_id):
    total = Presence.objects.filter(user_id=user_id, node__heartbeat_at__gte=_cutoff()).aggregate(
        n=Sum("sockets")
    )["n"]
    return total or 0


def node_heartbeat():
    """Refresh this node; drop dead nodes and return the users they left online-looking.

    The returned user ids had sockets only on dead nodes and are now offline.
    """
    now = timezone.now()
    PresenceNode.objects.update_or_create(name=NODE_NAME, defaults={"heartbeat_at": now})
    dead = PresenceNode.objects.filter(heartbeat_at__lt=_cutoff())
    with transaction.atomic():
        stranded = set(
            Presence.objects.filter(node__in=dead, sockets__gt=0).values_list("user_id", flat=True)
        )
        dead.delete()
    if not stranded:
        return set()
    return stranded - online_user_ids(stranded)


def node_stop():
    """Forget this node's sockets (graceful shutdown); returns users now offline."""
    users = set(
        Presence.objects.filter(node_id=NODE_NAME, sockets__gt=0).values_list("user_id", flat=True)
    )
    PresenceNode.objects.filter(name=NODE_NAME).delete()
    return users - online_user_ids(users)


def socket_opened(user_id, *, limit):
    """Count a new socket unless the user is at ``limit``; returns (accepted, first_socket)."""
    with transaction.atomic():
        PresenceNode.objects.get_or_create(
            name=NODE_NAME, defaults={"heartbeat_at": timezone.now()}
        )
        live = live_socket_count(user_id)
        if live >= limit:
            return False, False
        row, _ = Presence.objects.get_or_create(node_id=NODE_NAME, user_id=user_id)
        Presence.objects.filter(pk=row.pk).update(sockets=F("sockets") + 1)
    return True, live == 0


def socket_closed(user_id):
    """Uncount a socket; returns True when it was the user's last one anywhere."""
    with transaction.atomic():
        Presence.objects.filter(node_id=NODE_NAME, user_id=user_id, sockets__gt=0).update(
            sockets=F("sockets") - 1
        )
        Presence.objects.filter(node_id=NODE_NAME, user_id=user_id, sockets=0).delete()
        return live_socket_count(user_id) == 0
