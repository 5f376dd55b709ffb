"""Receivers of the chat's signals (chat/signals.py): decide, then enqueue after commit.

They run on the thread that serves the sender's websocket or REST request,
so they hand their task to ``chatproject.enqueue``, which never waits for
the broker. A new message costs no query here: its id joins the others of
the burst in one ``push_messages`` call, and the worker works out whether
and to whom it is pushed (never one task per recipient). A read makes one
indexed query, since most reads clear nothing.
"""

from functools import partial

from django.db import transaction

from chatproject.enqueue import enqueue, enqueue_each

from . import selectors
from .tasks import push_clear, push_messages


def push_on_message_sent(sender, message, **kwargs):
    """A new message: push it to the members who are not connected."""
    # on_commit: inside an outer transaction that later rolls back, nothing
    # is queued; after a commit (the usual case) it runs at once.
    transaction.on_commit(partial(enqueue_each, push_messages, message.pk))


def clear_on_message_read(sender, user, room, seq, previous_seq, **kwargs):
    """The user read up to ``seq``: clear those messages' pushes on their devices."""
    if selectors.pushed_between(
        user_id=user.pk, room_id=room.pk, after_seq=previous_seq, up_to_seq=seq
    ):
        transaction.on_commit(partial(enqueue, push_clear, user.pk, room.pk, seq, previous_seq))
