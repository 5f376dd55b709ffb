"""Receivers of the chat's signals (chat/signals.py): decide, then enqueue after commit.

They run on the thread that serves the sender's websocket or REST request,
so they make one indexed query at most and hand the task to
``chatproject.enqueue``, which never waits for the broker. One task per message,
never one per recipient: the task itself works out who needs a push.
"""

from functools import partial

from django.db import transaction

from chatproject.enqueue import enqueue

from . import selectors
from .tasks import push_clear, push_message


def push_on_message_sent(sender, message, **kwargs):
    """A new message: push it to the members who are not connected."""
    if selectors.room_has_push_devices(room_id=message.room_id, exclude_user_id=message.author_id):
        transaction.on_commit(partial(enqueue, push_message, message.pk))


def clear_on_message_read(sender, user, room, seq, previous_seq, **kwargs):
    """The user read up to ``seq``: clear those messages' pushes on their devices."""
    if selectors.pushed_between(
        user_id=user.pk, room_id=room.pk, after_seq=previous_seq, up_to_seq=seq
    ):
        transaction.on_commit(partial(enqueue, push_clear, user.pk, room.pk, seq, previous_seq))
