"""Read-only queries shared by the consumer, the REST API and the admin."""

from django.conf import settings
from django.db.models import Prefetch

from .models import Membership, Message, Room
from .payloads import room_payload


def is_moderator(user):
    """Staff users and members of the moderator group may moderate any room."""
    if not user.is_active:
        return False
    if user.is_staff:
        return True
    return user.groups.filter(name=settings.CHAT_MODERATOR_GROUP).exists()


def room_ids_for_user(user_id):
    return list(Membership.objects.filter(user_id=user_id).values_list("room_id", flat=True))


def rooms_for_user(user):
    """The user's rooms with counters, in one query (``hello``, ``GET /api/rooms/``)."""
    memberships = Membership.objects.filter(user=user).select_related("room").order_by("room_id")
    return [room_payload(m.room, m.last_read_seq) for m in memberships]


def memberships_with_members(user, room_id=None):
    """The user's memberships with their rooms and each room's members (``GET /api/rooms/``).

    Three queries however many rooms: memberships joined to rooms, then every
    member of those rooms with their user, prefetched into ``room.member_list``.
    """
    members = Membership.objects.select_related("user").order_by("user_id")
    memberships = (
        Membership.objects.filter(user=user)
        .select_related("room")
        .prefetch_related(Prefetch("room__memberships", queryset=members, to_attr="member_list"))
        .order_by("room_id")
    )
    if room_id is not None:
        memberships = memberships.filter(room_id=room_id)
    return memberships


def membership_for(user, room_id):
    """The user's membership of the room, or None (also when the room is missing)."""
    return Membership.objects.filter(user=user, room_id=room_id).select_related("room").first()


def member_last_seqs(user_id, room_ids):
    """``{room id: newest seq}`` of those rooms the user is a member of, in one query."""
    return dict(
        Membership.objects.filter(user_id=user_id, room_id__in=list(room_ids)).values_list(
            "room_id", "room__last_seq"
        )
    )


def member_room(user, room_id):
    """The room if the user is a member of it, else None."""
    return Room.objects.filter(pk=room_id, memberships__user=user).first()


def messages_page(room_id, *, before=None, after=None, limit=50):
    """One keyset page of a room's history in ascending seq, and whether more exist.

    Pages walk the (room, seq) unique index, so a page deep in the history
    costs the same as the newest one.
    """
    qs = Message.objects.filter(room_id=room_id).select_related("author")
    if after is not None:
        rows = list(qs.filter(seq__gt=after).order_by("seq")[: limit + 1])
        has_more = len(rows) > limit
        return rows[:limit], has_more
    if before is not None:
        qs = qs.filter(seq__lt=before)
    rows = list(qs.order_by("-seq")[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    rows.reverse()
    return rows, has_more


def last_seqs(room_ids):
    """``{room id: newest seq}`` of the rooms (the hub's check for lost tails)."""
    return dict(Room.objects.filter(pk__in=list(room_ids)).values_list("pk", "last_seq"))


def messages_between(room_id, after_seq, before_seq):
    """Messages with after_seq < seq < before_seq, ascending (gap repair)."""
    return list(
        Message.objects.filter(room_id=room_id, seq__gt=after_seq, seq__lt=before_seq)
        .select_related("author")
        .order_by("seq")
    )


def resume_replay(last_seqs, limit):
    """For ``resume``: per room, (messages after the client's seq, last seq sent, truncated).

    A room with more than ``limit`` missing messages is truncated: the client
    pages it over REST instead.
    """
    newest = dict(Room.objects.filter(pk__in=list(last_seqs)).values_list("pk", "last_seq"))
    replay = {}
    for room_id, last_seq in last_seqs.items():
        rows = list(
            Message.objects.filter(room_id=room_id, seq__gt=last_seq)
            .select_related("author")
            .order_by("seq")[: limit + 1]
        )
        if len(rows) > limit:
            replay[room_id] = ([], last_seq, True)
            continue
        last_sent = rows[-1].seq if rows else min(last_seq, newest.get(room_id, 0))
        replay[room_id] = (rows, last_sent, False)
    return replay
