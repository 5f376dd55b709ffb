"""The missed-message email and its unsubscribe token (docs/notifications.md, "The email").

One multipart message (plain text and HTML, both from templates) per digest,
grouped by room, with a link back to each room and a signed one-click
unsubscribe link that works without logging in.
"""

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.text import Truncator

from chat.models import Membership, Room

UNSUBSCRIBE_SALT = "notifications.unsubscribe"
# Long messages are cut in the email; the room link shows them whole.
PREVIEW_CHARS = 1000


def site_url(path):
    return settings.SITE_URL.rstrip("/") + path


def room_url(room_id):
    """The browser page opens the room named by ``?room=``."""
    return site_url(f"/?room={room_id}")


def unsubscribe_token(user_id):
    """A signed, non-expiring token that can only turn this user's email off."""
    return signing.dumps(user_id, salt=UNSUBSCRIBE_SALT)


def unsubscribe_user_id(token):
    """The user id inside ``token``, or None when it was not signed by us."""
    try:
        user_id = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    return user_id if isinstance(user_id, int) and not isinstance(user_id, bool) else None


def unsubscribe_url(user_id):
    return site_url(
        reverse("notifications-unsubscribe", kwargs={"token": unsubscribe_token(user_id)})
    )


def mentions(body, username):
    """Whether ``body`` mentions ``@username`` (not a longer name that starts the same)."""
    pattern = rf"(?<![\w@])@{re.escape(username)}(?![\w.@+-]*\w)"
    return re.search(pattern, body, flags=re.IGNORECASE) is not None


def _direct_labels(user, room_ids):
    """For direct rooms: the other member's name, which reads better than the room's."""
    others = (
        Membership.objects.filter(room_id__in=room_ids, room__kind=Room.Kind.DIRECT)
        .exclude(user=user)
        .select_related("user")
    )
    return {m.room_id: m.user.get_username() for m in others}


def digest_context(*, user, items):
    """Template context of one digest; ``items`` are pending rows in room, seq order."""
    username = user.get_username()
    room_ids = {i.room_id for i in items}
    direct_labels = _direct_labels(user, room_ids)
    per_room = settings.NOTIFICATIONS_MAX_PER_ROOM
    rooms = {}
    for item in items:
        room = item.room
        direct = room.kind == Room.Kind.DIRECT
        entry = rooms.setdefault(
            room.pk,
            {
                "id": room.pk,
                "name": direct_labels.get(room.pk, room.name) if direct else room.name,
                "direct": direct,
                "url": room_url(room.pk),
                "messages": [],
                "more": 0,
            },
        )
        if len(entry["messages"]) >= per_room:
            entry["more"] += 1
            continue
        message = item.message
        entry["messages"].append(
            {
                "author": message.author.get_username(),
                "body": Truncator(message.body.strip()).chars(PREVIEW_CHARS),
                "created_at": message.created_at,
                "edited": message.edited_at is not None,
                "direct": direct,
                "mention": not direct and mentions(message.body, username),
            }
        )
    rooms = list(rooms.values())
    return {
        "user": user,
        "username": username,
        "total": len(items),
        "rooms": rooms,
        "mentions": sum(m["mention"] for r in rooms for m in r["messages"]),
        "unsubscribe_url": unsubscribe_url(user.pk),
        "settings_url": site_url(reverse("notifications-preferences")),
        "site_url": site_url("/"),
    }


def digest_subject(context):
    total, rooms = context["total"], context["rooms"]
    noun = "message" if total == 1 else "messages"
    if len(rooms) == 1:
        room = rooms[0]
        where = f"from {room['name']}" if room["direct"] else f"in {room['name']}"
    else:
        where = f"in {len(rooms)} rooms"
    # Room names may hold anything; a header must stay on one line.
    return " ".join(f"You missed {total} {noun} {where}".split())


def digest_email(*, user, digest, items):
    """The email of one digest, ready to send."""
    context = digest_context(user=user, items=items)
    unsubscribe = context["unsubscribe_url"]
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    message = EmailMultiAlternatives(
        subject=digest_subject(context),
        body=render_to_string("notifications/digest_email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers={
            # The same id on every attempt lets mail clients fold a repeat;
            # the creation time keeps ids apart across a database reset.
            "Message-ID": f"<digest-{digest.pk}.{int(digest.created_at.timestamp())}@{host}>",
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )
    message.attach_alternative(
        render_to_string("notifications/digest_email.html", context), "text/html"
    )
    return message
