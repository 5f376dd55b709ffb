"""One function per use case, shared by the websocket consumer, the REST API and the admin.

Each service validates, writes in one transaction, and only after commit
publishes the protocol frames (``chat.fanout``) and sends the domain signals
(``chat.signals``). Nothing is broadcast or enqueued for a write that rolled
back. docs/architecture.md follows a message through these steps.
"""

import logging
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from ops import metrics

from . import fanout, presence, selectors, signals
from .errors import BadInput, ChatError, Conflict, Forbidden, Muted, NotFound, NotMember, TooLong
from .models import Membership, Message, ModerationAction, Report, Room
from .payloads import dumps, message_payload, room_payload, user_payload

logger = logging.getLogger(__name__)

MAX_ID = 2**63 - 1


# --- validation ---------------------------------------------------------


def require_id(value, field):
    """A positive integer id (JSON ``true`` is not one), within the database's range."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise BadInput(f"'{field}' must be a positive integer.")
    return value


def require_seq(value, field="seq"):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise BadInput(f"'{field}' must be a non-negative integer.")
    return value


def _encodable(text):
    """False for text with a lone surrogate (JSON's \\ud800), which no database can store."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validate_body(body):
    if not isinstance(body, str):
        raise BadInput("'body' must be a string.")
    if "\x00" in body or not _encodable(body):
        raise BadInput("'body' must not contain NUL characters or lone surrogates.")
    stripped = body.strip()
    if not stripped:
        raise BadInput("'body' must not be empty.")
    # The limit counts the stripped text; the raw text is bounded too so
    # that padding cannot smuggle in an arbitrarily large row.
    if len(stripped) > settings.CHAT_MAX_BODY or len(body) > 2 * settings.CHAT_MAX_BODY:
        raise TooLong(f"'body' is longer than {settings.CHAT_MAX_BODY} characters.")
    return body


def validate_client_id(client_id):
    if (
        not isinstance(client_id, str)
        or not 1 <= len(client_id) <= 64
        or "\x00" in client_id
        or not _encodable(client_id)
    ):
        raise BadInput("'client_id' must be a string of 1 to 64 characters.")
    return client_id


def _room_name(name):
    if not isinstance(name, str) or not name.strip():
        raise BadInput("'name' must be a non-empty string.")
    if len(name.strip()) > 100 or "\x00" in name or not _encodable(name):
        raise BadInput("'name' must be at most 100 characters.")
    return name.strip()


def _active_users(user_ids):
    ids = {require_id(uid, "user") for uid in user_ids}
    users = list(get_user_model().objects.filter(pk__in=ids, is_active=True))
    if len(users) != len(ids):
        missing = sorted(ids - {u.pk for u in users})
        raise BadInput(f"Unknown or inactive users: {missing}.")
    return users


# --- after-commit effects -----------------------------------------------


def _send_signal(signal, **kwargs):
    """Send a domain signal; a failing receiver is logged, never undoes the write."""
    for receiver, result in signal.send_robust(sender=Message, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "receiver %s failed", getattr(receiver, "__qualname__", receiver), exc_info=result
            )


def _after_send(message):
    metrics.MESSAGES_STORED.inc()
    frame = {"type": "message.new", "message": message_payload(message)}
    fanout.to_room(message.room_id, dumps(frame), seq=message.seq)
    _send_signal(signals.message_sent, message=message)


def _after_update(message):
    frame = {"type": "message.updated", "message": message_payload(message)}
    fanout.to_room(message.room_id, dumps(frame))
    _send_signal(signals.message_updated, message=message)


def _announce_join(user_id, room):
    membership = Membership.objects.filter(user_id=user_id, room=room).first()
    if membership is None:
        return
    room.refresh_from_db(fields=["last_seq", "name"])
    frame = {"type": "room.joined", "room": room_payload(room, membership.last_read_seq)}
    fanout.to_user(user_id, "joined", room_id=room.pk, seq=room.last_seq, text=dumps(frame))


def _announce_leave(user_id, room):
    frame = {"type": "room.left", "room": {"id": room.pk, "name": room.name}}
    fanout.to_user(user_id, "left", room_id=room.pk, text=dumps(frame))


# --- messages -----------------------------------------------------------


def _next_seq(user, room_id):
    """Allocate the room's next seq for a message by ``user`` (``_take_seqs``)."""
    seq, standing = _take_seqs(room_id, {user.pk}, 1)
    if seq is not None:
        return seq
    if standing.get(user.pk):
        raise Muted()
    raise NotMember()


def _stored_send(user, room_id, client_id):
    return (
        Message.objects.filter(author=user, room_id=room_id, client_id=client_id)
        .select_related("author")
        .first()
    )


def _validate_send(room_id, body, client_id):
    require_id(room_id, "room")
    validate_body(body)
    validate_client_id(client_id)


def _insert_send(user, room_id, body, client_id):
    """The writes of one send, in the caller's transaction; publishes after its commit."""
    seq = _next_seq(user, room_id)
    message = Message.objects.create(
        room_id=room_id, seq=seq, author=user, body=body, client_id=client_id
    )
    # Sending implies having read the room up to one's own message.
    Membership.objects.filter(user=user, room_id=room_id, last_read_seq__lt=seq).update(
        last_read_seq=seq
    )
    transaction.on_commit(partial(_after_send, message))
    return message


def _store_send(user, room_id, body, client_id):
    """Store the message in a savepoint; a repeated ``client_id`` returns the stored one."""
    try:
        with transaction.atomic():
            message = _insert_send(user, room_id, body, client_id)
    except IntegrityError:
        # The (author, room, client_id) constraint: a repeat, or the same send
        # racing itself. The savepoint gave the seq back.
        existing = _stored_send(user, room_id, client_id)
        if existing is None:
            raise
        return existing, False
    logger.debug("message %s stored in room %s as seq %s", message.pk, room_id, message.seq)
    return message, True


def message_send(*, user, room_id, body, client_id):
    """Store a message and publish it; returns ``(message, created)``.

    A repeated ``client_id`` returns the stored message with ``created``
    False and publishes nothing, also when the same send races itself.
    """
    _validate_send(room_id, body, client_id)
    # A repeat is answered without locking the room row.
    existing = _stored_send(user, room_id, client_id)
    if existing is not None:
        return existing, False
    return _store_send(user, room_id, body, client_id)


def message_send_batch(*, sends):
    """Several ``message_send`` calls (dicts of its arguments) in one transaction.

    One commit, so one disk flush, serves them all (docs/performance.md).
    Returns, in order, ``(message, created)`` or the exception that send
    raised; one send that fails leaves the others stored. Messages are
    published after the commit, in order.

    A refused send (bad input, not a member, muted) writes nothing, so the
    batch first runs without a savepoint per send: on PostgreSQL that is
    two round trips fewer per message. A send that fails in the database
    (a repeated ``client_id`` hitting the unique constraint aborts the
    transaction), or any unexpected error, rolls that attempt back and the
    batch runs again, each send in its own savepoint. Unlike
    ``message_send`` there is no lookup for a repeated ``client_id`` first:
    repeats are rare on a live socket, and the constraint catches them.
    """
    try:
        return _send_batch_at_once(sends)
    except _AttemptRolledBack as failed:
        # Nothing was stored or published; now one savepoint each, so that
        # only the send at fault fails.
        logger.debug(
            "a batch of %s sends failed at once (%s); again with savepoints",
            len(sends),
            type(failed.__cause__).__name__,
        )
        return _send_batch_with_savepoints(sends)


class _AttemptRolledBack(Exception):
    """The savepoint-free attempt at a batch failed before its commit and rolled back.

    Only this is worth a second attempt: a failing commit, or an error in
    the hooks that run after it, leaves the batch's fate to the caller, as
    for a single send.
    """


def _send_batch_at_once(sends):
    """The batch in a few statements per room, not three per send.

    Per room: one UPDATE takes the room's row lock and a block of seqs for
    every send to it, then the senders' memberships are read under that
    lock (a removal takes it too, so it cannot slip in between); with one
    sender the check rides on the UPDATE instead, as for a single send.
    One INSERT stores every message of the batch and one UPDATE moves the
    senders' read markers. Seqs a refused send did not use are given back
    before commit, so seq stays gapless. Rooms are locked in id order, so
    two nodes' batches cannot deadlock on each other.
    """
    results = [None] * len(sends)
    by_room = {}
    for index, kwargs in enumerate(sends):
        try:
            _validate_send(kwargs["room_id"], kwargs["body"], kwargs["client_id"])
        except ChatError as exc:
            results[index] = exc
        else:
            by_room.setdefault(kwargs["room_id"], []).append(index)
    with transaction.atomic():
        try:
            stored = _store_at_once(sends, by_room, results)
        except Exception as exc:
            raise _AttemptRolledBack from exc
        for index, message in stored:
            results[index] = (message, True)
            transaction.on_commit(partial(_after_send, message))
            logger.debug(
                "message %s stored in room %s as seq %s", message.pk, message.room_id, message.seq
            )
    return results


def _store_at_once(sends, by_room, results):
    """The writes of ``_send_batch_at_once``; refusals go into ``results``.

    Returns ``(index in the batch, message)`` for each stored message, in
    the batch's order.
    """
    stored = []
    for room_id in sorted(by_room):
        indexes = by_room[room_id]
        seq, standing = _take_seqs(room_id, {sends[i]["user"].pk for i in indexes}, len(indexes))
        first = seq
        for index in indexes:
            kwargs = sends[index]
            muted = standing.get(kwargs["user"].pk)
            if muted:
                results[index] = Muted()
            elif muted is None or seq is None:  # not a member, or no such room
                results[index] = NotMember()
            else:
                message = Message(
                    room_id=room_id,
                    seq=seq,
                    author=kwargs["user"],
                    body=kwargs["body"],
                    client_id=kwargs["client_id"],
                )
                stored.append((index, message))
                seq += 1
        if first is not None and seq < first + len(indexes):
            _give_back_seqs(room_id, first + len(indexes) - seq)
    if stored:
        messages = [message for _, message in stored]
        _insert_messages(messages)
        _mark_read_by_senders(messages)
    stored.sort(key=lambda item: item[0])
    return stored


def _take_seqs(room_id, user_ids, count):
    """Lock the room's row and take ``count`` seqs for sends by ``user_ids``.

    The UPDATE takes the room row's write lock and holds it until commit, so
    concurrent senders in one room queue here: seqs are handed out in commit
    order, and a rolled-back send returns its seqs with the rollback. That
    is what makes seq gapless. With one sender the membership condition
    rides on the same statement, so a permitted send costs one query here;
    only a refused one asks why.

    Returns the first seq (None when nothing was taken) and each sender's
    standing in the room, ``{user_id: muted}``, without the non-members.
    """
    room_table, member_table = Room._meta.db_table, Membership._meta.db_table
    sql = f"UPDATE {room_table} SET last_seq = last_seq + %s WHERE id = %s"
    params = [count, room_id]
    if len(user_ids) == 1:
        (user_id,) = user_ids
        sql += (
            f" AND EXISTS (SELECT 1 FROM {member_table} m"
            " WHERE m.room_id = %s AND m.user_id = %s AND NOT m.muted)"
        )
        params += [room_id, user_id]
    with connection.cursor() as cursor:
        cursor.execute(sql + " RETURNING last_seq", params)
        row = cursor.fetchone()
        first = None if row is None else row[0] - count + 1
        if len(user_ids) == 1 and first is not None:
            return first, {user_id: False}
        # Read under the room's lock (or, refused, to tell muted from not a member).
        # Plain SQL: the ORM took longer to build this than the database to answer it.
        cursor.execute(
            f"SELECT user_id, muted FROM {member_table} WHERE room_id = %s"
            f" AND user_id IN ({', '.join(['%s'] * len(user_ids))})",
            [room_id, *user_ids],
        )
        return first, {user_id: bool(muted) for user_id, muted in cursor.fetchall()}


_INSERTED_FIELDS = ("room", "seq", "author", "body", "client_id", "created_at")


def _insert_messages(messages):
    """Store new messages in one INSERT and give each its id.

    What ``bulk_create`` does, in plain SQL: the ORM spent longer preparing
    the statement than the database took to run it (docs/performance.md,
    fourth round). Like ``bulk_create``, it relies on RETURNING giving the
    ids in the order of the rows.
    """
    now = timezone.now()
    fields = [Message._meta.get_field(name) for name in _INSERTED_FIELDS]
    columns = ", ".join(field.column for field in fields)
    row = f"({', '.join(['%s'] * len(fields))})"
    params = []
    for message in messages:
        message.created_at = now
        params += [
            field.get_db_prep_save(getattr(message, field.attname), connection) for field in fields
        ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Message._meta.db_table} ({columns})"
            f" VALUES {', '.join([row] * len(messages))} RETURNING id",
            params,
        )
        ids = [pk for (pk,) in cursor.fetchall()]
    for message, pk in zip(messages, ids, strict=True):
        message.pk = pk
        message._state.adding = False
        message._state.db = connection.alias


def _give_back_seqs(room_id, count):
    Room.objects.filter(pk=room_id).update(last_seq=F("last_seq") - count)


def _mark_read_by_senders(messages):
    """Sending implies having read the room up to one's own message.

    One statement per sender, sent together (``executemany`` pipelines them
    on PostgreSQL: one round trip). Plain SQL, because building the same
    UPDATE through the ORM cost the batch more than running it
    (docs/performance.md, fourth round).
    """
    newest = {}
    for message in messages:
        newest[(message.room_id, message.author_id)] = message.seq
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {Membership._meta.db_table} SET last_read_seq = %s"
            " WHERE room_id = %s AND user_id = %s AND last_read_seq < %s",
            [(seq, room_id, user_id, seq) for (room_id, user_id), seq in newest.items()],
        )


def _send_batch_with_savepoints(sends):
    results = []
    with transaction.atomic():
        for kwargs in sends:
            try:
                _validate_send(kwargs["room_id"], kwargs["body"], kwargs["client_id"])
                results.append(_store_send(**kwargs))
            except Exception as exc:
                results.append(exc)
    return results


def message_read(*, user, room_id, seq):
    """Move the user's read marker forward to ``seq`` (clamped to the newest message).

    Returns the marker after the call. Nothing is published when it did not move.
    """
    require_id(room_id, "room")
    require_seq(seq)
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update()
            .filter(user=user, room_id=room_id)
            .select_related("room")
            .first()
        )
        if membership is None:
            raise NotMember()
        target = min(seq, membership.room.last_seq)
        previous = membership.last_read_seq
        if target <= previous:
            return previous
        membership.last_read_seq = target
        membership.save(update_fields=["last_read_seq"])
        room = membership.room

        def publish():
            frame = {"type": "read", "room": room_id, "user": user_payload(user), "seq": target}
            fanout.to_room(room_id, dumps(frame))
            _send_signal(
                signals.message_read, user=user, room=room, seq=target, previous_seq=previous
            )

        transaction.on_commit(publish)
    return target


def _visible_message(user, message_id):
    """The message if the user may see it (member of its room, or a moderator)."""
    require_id(message_id, "message")
    message = Message.objects.select_related("author", "room").filter(pk=message_id).first()
    if message is None:
        raise NotFound("No such message.")
    if not Membership.objects.filter(user=user, room_id=message.room_id).exists():
        if not selectors.is_moderator(user):
            raise NotFound("No such message.")
    return message


def message_edit(*, user, message_id, body):
    validate_body(body)
    with transaction.atomic():
        message = _visible_message(user, message_id)
        if message.author_id != user.pk:
            raise Forbidden("Only the author may edit a message.")
        if message.deleted:
            raise Conflict("A deleted message cannot be edited.")
        message.body = body
        message.edited_at = timezone.now()
        message.save(update_fields=["body", "edited_at"])
        transaction.on_commit(partial(_after_update, message))
    return message


def message_delete(*, user, message_id):
    """Soft-delete: the row keeps its id and seq; its body is erased."""
    with transaction.atomic():
        message = _visible_message(user, message_id)
        moderating = message.author_id != user.pk
        if moderating and not selectors.is_moderator(user):
            raise Forbidden("Only the author or a moderator may delete a message.")
        if message.deleted:
            return message
        message.body = ""
        message.deleted_at = timezone.now()
        message.save(update_fields=["body", "deleted_at"])
        if moderating:
            ModerationAction.objects.create(
                actor=user,
                action=ModerationAction.Action.DELETE_MESSAGE,
                message=message,
                room_id=message.room_id,
                target_user_id=message.author_id,
            )
        transaction.on_commit(partial(_after_update, message))
    return message


def message_report(*, user, message_id, reason):
    """File a report for the moderators; returns ``(report, created)``.

    The reporter's open report on the same message is returned as it is
    rather than filed twice.
    """
    if (
        not isinstance(reason, str)
        or not reason.strip()
        or len(reason) > 500
        or not _encodable(reason)
    ):
        raise BadInput("'reason' must be a non-empty string of at most 500 characters.")
    message = _visible_message(user, message_id)
    report, created = Report.objects.get_or_create(
        message=message,
        reporter=user,
        resolved_at=None,
        defaults={"reason": reason.strip()},
    )
    if created:
        logger.info("message %s reported by user %s", message.pk, user.pk)
    return report, created


# --- rooms and memberships ---------------------------------------------


def room_create(*, owner, name, member_ids=()):
    name = _room_name(name)
    members = [u for u in _active_users(member_ids) if u.pk != owner.pk]
    with transaction.atomic():
        room = Room.objects.create(name=name, kind=Room.Kind.GROUP, owner=owner)
        Membership.objects.bulk_create(
            [Membership(user=owner, room=room, role=Membership.Role.OWNER)]
            + [Membership(user=u, room=room) for u in members]
        )
        for uid in [owner.pk] + [u.pk for u in members]:
            transaction.on_commit(partial(_announce_join, uid, room))
    logger.info("room %s created by user %s", room.pk, owner.pk)
    return room


def room_direct(*, user, other_id):
    """The one direct room of the two users; returns ``(room, created)``."""
    (other,) = _active_users([other_id])
    if other.pk == user.pk:
        raise BadInput("A direct room needs another user.")
    low, high = sorted([user, other], key=lambda u: u.pk)
    key = f"{low.pk}:{high.pk}"
    created = False
    try:
        with transaction.atomic():
            room = Room.objects.filter(direct_key=key).first()
            if room is None:
                room = Room.objects.create(
                    name=f"{low.get_username()} & {high.get_username()}",
                    kind=Room.Kind.DIRECT,
                    direct_key=key,
                )
                created = True
            for u in (low, high):
                _, joined = Membership.objects.get_or_create(user=u, room=room)
                if joined:
                    transaction.on_commit(partial(_announce_join, u.pk, room))
    except IntegrityError:
        # The same pair raced us and won; theirs is the room.
        room = Room.objects.get(direct_key=key)
        created = False
    return room, created


def membership_add(*, actor, room_id, user_id):
    """The owner (or a moderator) adds a member; returns ``(membership, created)``."""
    require_id(room_id, "room")
    require_id(user_id, "user")
    with transaction.atomic():
        room = Room.objects.select_for_update().filter(pk=room_id).first()
        is_mod = selectors.is_moderator(actor)
        # Outsiders learn nothing, not even whether the user they named exists.
        if room is None or not (room.memberships.filter(user=actor).exists() or is_mod):
            raise NotMember()
        if room.kind == Room.Kind.DIRECT:
            raise Forbidden("A direct room has exactly its two members.")
        if room.owner_id != actor.pk and not is_mod:
            raise Forbidden("Only the room's owner may add members.")
        (user,) = _active_users([user_id])
        membership, created = Membership.objects.get_or_create(user=user, room=room)
        if created:
            transaction.on_commit(partial(_announce_join, user.pk, room))
            if is_mod and room.owner_id != actor.pk:
                ModerationAction.objects.create(
                    actor=actor,
                    action=ModerationAction.Action.ADD_MEMBER,
                    room=room,
                    target_user=user,
                )
    return membership, created


def membership_remove(*, actor, room_id, user_id):
    """The owner (or a moderator) removes a member, or a member leaves."""
    require_id(room_id, "room")
    require_id(user_id, "user")
    with transaction.atomic():
        room = Room.objects.select_for_update().filter(pk=room_id).first()
        is_mod = selectors.is_moderator(actor)
        if room is None or not (room.memberships.filter(user=actor).exists() or is_mod):
            raise NotMember()
        leaving = user_id == actor.pk
        if not leaving and room.owner_id != actor.pk and not is_mod:
            raise Forbidden("Only the room's owner may remove members.")
        membership = room.memberships.filter(user_id=user_id).first()
        if membership is None:
            raise NotFound("That user is not a member of this room.")
        membership.delete()
        if room.owner_id == user_id:
            # Hand the room to its longest-standing member, if any.
            heir = room.memberships.order_by("joined_at", "pk").first()
            room.owner_id = heir.user_id if heir else None
            room.save(update_fields=["owner"])
            if heir:
                room.memberships.filter(pk=heir.pk).update(role=Membership.Role.OWNER)
        if not leaving and is_mod and room.owner_id != actor.pk:
            ModerationAction.objects.create(
                actor=actor,
                action=ModerationAction.Action.REMOVE_MEMBER,
                room=room,
                target_user_id=user_id,
            )
        transaction.on_commit(partial(_announce_leave, user_id, room))


def membership_mute(*, actor, room_id, user_id, muted):
    """A moderator mutes (or unmutes) a member: their sends get ``muted``."""
    if not selectors.is_moderator(actor):
        raise Forbidden("Only moderators may mute members.")
    with transaction.atomic():
        membership = Membership.objects.filter(room_id=room_id, user_id=user_id).first()
        if membership is None:
            raise NotFound("That user is not a member of this room.")
        if membership.muted == muted:
            return membership
        membership.muted = muted
        membership.save(update_fields=["muted"])
        ModerationAction.objects.create(
            actor=actor,
            action=ModerationAction.Action.MUTE if muted else ModerationAction.Action.UNMUTE,
            room_id=room_id,
            target_user_id=user_id,
        )
    return membership


def user_deactivate(*, actor, user):
    """Deactivate an account: its tokens stop working and its sockets close at once."""
    if not selectors.is_moderator(actor):
        raise Forbidden("Only moderators may deactivate users.")
    with transaction.atomic():
        get_user_model().objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        ModerationAction.objects.create(
            actor=actor, action=ModerationAction.Action.DEACTIVATE, target_user=user
        )
        transaction.on_commit(partial(fanout.to_user, user.pk, "close", code=CLOSE_DEACTIVATED))
    logger.info("user %s deactivated by user %s", user.pk, actor.pk)


def report_resolve(*, actor, report, delete_message=False):
    if not selectors.is_moderator(actor):
        raise Forbidden("Only moderators may resolve reports.")
    if delete_message:
        message_delete(user=actor, message_id=report.message_id)
    with transaction.atomic():
        Report.objects.filter(message_id=report.message_id, resolved_at=None).update(
            resolved_at=timezone.now(), resolved_by=actor
        )
        ModerationAction.objects.create(
            actor=actor,
            action=ModerationAction.Action.RESOLVE_REPORT,
            message_id=report.message_id,
            detail=f"report {report.pk}",
        )


# --- connections --------------------------------------------------------

CLOSE_DEACTIVATED = 4003
CLOSE_TOO_MANY_SOCKETS = 4029


def presence_announce(user, status):
    """Tell the users who share a room with ``user`` that they came or went."""
    frame = {"type": "presence", "user": user_payload(user), "status": status}
    fanout.presence(user.pk, selectors.room_ids_for_user(user.pk), dumps(frame))
    signal = signals.user_online if status == "online" else signals.user_gone
    _send_signal(signal, user_id=user.pk)


def connection_open(*, user):
    """Count a new socket and build its ``hello``; returns (hello frame or None, rooms).

    None means the user already has ``CHAT_MAX_SOCKETS_PER_USER`` sockets open.
    """
    accepted, first = presence.socket_opened(user.pk, limit=settings.CHAT_MAX_SOCKETS_PER_USER)
    if not accepted:
        return None, []
    rooms = selectors.rooms_for_user(user)
    if first:
        presence_announce(user, "online")
    return {"type": "hello", "user": user_payload(user), "rooms": rooms}, rooms


def connection_close(*, user):
    if presence.socket_closed(user.pk):
        presence_announce(user, "offline")


def typing_notify(*, user, room_id):
    """Typing is not stored: a frame to the other members' sockets."""
    frame = {"type": "typing", "room": room_id, "user": user_payload(user)}
    return dumps(frame)
