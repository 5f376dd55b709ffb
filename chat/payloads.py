"""The JSON shapes of docs/protocol.md, built in one place for both transports."""

import json

from django.core.serializers.json import DjangoJSONEncoder


def dumps(frame):
    """Encode a frame once; the text is then shared by every recipient."""
    return json.dumps(frame, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))


def timestamp(value):
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def user_payload(user):
    return {"id": user.pk, "username": user.get_username()}


def message_payload(message):
    return {
        "id": message.pk,
        "room": message.room_id,
        "seq": message.seq,
        "author": {"id": message.author_id, "username": message.author.get_username()},
        "body": "" if message.deleted else message.body,
        "client_id": message.client_id,
        "created_at": timestamp(message.created_at),
        "edited_at": timestamp(message.edited_at),
        "deleted": message.deleted,
    }


def room_payload(room, last_read_seq):
    """A room as one member sees it (``hello``, ``room.joined``)."""
    return {
        "id": room.pk,
        "name": room.name,
        "last_seq": room.last_seq,
        "last_read_seq": last_read_seq,
        "unread": max(room.last_seq - last_read_seq, 0),
    }
