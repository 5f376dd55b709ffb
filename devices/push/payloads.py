"""What a push says, built once per message for every provider (docs/push.md, "Payload")."""

from django.conf import settings

from .base import Push

ELLIPSIS = "…"


def truncate(text, limit):
    """``text`` cut to at most ``limit`` characters, marked with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + ELLIPSIS


def room_tag(room_id):
    return f"room-{room_id}"


def message_push(message):
    """The notification for a new message; the body is hidden when ``PUSH_HIDE_CONTENT``."""
    data = {"room": str(message.room_id), "seq": str(message.seq), "message": str(message.pk)}
    if settings.PUSH_HIDE_CONTENT:
        return Push(
            kind="message", title="New message", body="", data=data, tag=room_tag(message.room_id)
        )
    author = message.author.get_username()
    room_name = truncate(message.room.name, 100)
    data.update({"room_name": room_name, "author": author})
    return Push(
        kind="message",
        title=room_name,
        body=truncate(f"{author}: {message.body}", settings.PUSH_BODY_MAX_CHARS),
        data=data,
        tag=room_tag(message.room_id),
    )


def clear_push(room_id, seq):
    """Tells the app to remove the room's notifications up to ``seq``."""
    return Push(kind="clear", data={"room": str(room_id), "seq": str(seq)}, tag=room_tag(room_id))


def test_push():
    return Push(kind="test", title="Test notification", body="Push notifications work.")
