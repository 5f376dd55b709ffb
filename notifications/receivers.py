"""Receivers of the chat's domain signals (documented in ``chat.signals``).

They run on the sender's thread, which may be serving a websocket, after the
chat's transaction committed. ``pend_digest_on_message_sent`` only enqueues
the message id: the recipients are worked out by
``tasks.digest_pend_messages`` in a worker, and the ids of a burst travel in
one task call (``chatproject.enqueue.enqueue_each``). A task that is lost
(crash before publish, broker trouble) is made up for by the sweep, which
pends recent messages that carry no ``PendedMessage`` marker.
"""

from functools import partial

from django.db import transaction

from chatproject.enqueue import enqueue_each

from . import services, tasks


def pend_digest_on_message_sent(sender, message, **kwargs):
    """A new message: have a worker record it for the members who miss it."""
    # on_commit: inside an outer transaction that later rolls back, nothing
    # is queued; after a commit (the usual case) it runs at once.
    transaction.on_commit(partial(enqueue_each, tasks.digest_pend_messages, message.pk))


def drop_digest_on_message_read(sender, user, room, seq, previous_seq, **kwargs):
    services.pending_drop_read(user_id=user.pk, room_id=room.pk, seq=seq)


def drop_digest_on_message_updated(sender, message, **kwargs):
    if message.deleted:
        services.pending_drop_message(message_id=message.pk)
