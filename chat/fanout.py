"""Publishing events to the nodes that hold sockets (docs/architecture.md).

Every daphne process runs one ``chat.hub.Hub``, subscribed once to the group of
each room and user its local sockets need. A message therefore costs one
channel-layer operation per node, not one per socket, and its frame is encoded
to JSON once, here, before it leaves.

These functions are called by the services after commit, from synchronous
code. The channel layer is at-most-once: a lost event is repaired by ``seq``
(the hub refills gaps from the database, clients use ``resume``), so a layer
failure is logged and never fails the write that caused it.
"""

import logging
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

PRESENCE_GROUP = "presence"


def room_group(room_id):
    return f"room.{room_id}"


def user_group(user_id):
    return f"user.{user_id}"


# The running hub's (loop, enqueue), set by ``chat.hub.Hub.start``. Inside daphne
# the services run on a worker thread; handing the event to the hub's loop and
# returning, instead of waiting there for the layer send, keeps the one
# database thread free for the next write (docs/performance.md).
_publisher = None


def set_publisher(loop, enqueue):
    global _publisher
    _publisher = (loop, enqueue)


def _hand_to_hub(group, event):
    publisher = _publisher
    if publisher is None:
        return False
    loop, enqueue = publisher
    if not loop.is_running():
        return False
    # The hub sends its queue in order, so a room's events leave in seq order.
    enqueue(group, event)
    return True


def _group_send(group, event):
    if _hand_to_hub(group, event):
        return
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        logger.debug("publishing %s to %s", event["type"], group)
        async_to_sync(layer.group_send)(group, event)
    except Exception:
        # NOTE: the write has committed; a client repairs the gap by seq.
        logger.warning("channel layer send to %s failed", group, exc_info=True)


def room_event(room_id, text, *, seq=None, exclude_user=None):
    return {
        "type": "hub.room",
        "room": room_id,
        "text": text,
        "seq": seq,
        "exclude_user": exclude_user,
        "at": time.time(),  # for the fan-out latency metric (ops.metrics)
    }


def to_room(room_id, text, *, seq=None, exclude_user=None):
    """Deliver an encoded frame to every local socket in the room, on every node."""
    _group_send(room_group(room_id), room_event(room_id, text, seq=seq, exclude_user=exclude_user))


def to_user(user_id, action, *, room_id=None, seq=None, text=None, code=None):
    """A per-user event: ``joined``/``left`` a room, ``text`` to push, or ``close``."""
    _group_send(
        user_group(user_id),
        {
            "type": "hub.user",
            "user": user_id,
            "action": action,
            "room": room_id,
            "seq": seq,
            "text": text,
            "code": code,
        },
    )


def presence(user_id, room_ids, text):
    """A presence frame for the sockets of users who share a room with user_id."""
    _group_send(
        PRESENCE_GROUP,
        {"type": "hub.presence", "user": user_id, "rooms": list(room_ids), "text": text},
    )
