"""Receivers of the chat's domain signals (documented in ``chat.signals``).

They run on the sender's thread after the chat's transaction committed. The
pending rows are written here, in one short transaction, rather than in a
task: once ``message_sent`` has fired nothing can lose them, and a crash
before the delivery task is enqueued is repaired by the sweep.
"""

from functools import partial

from django.db import transaction

from . import services, tasks


def _schedule(digest_id, due_at):
    tasks.digest_send.apply_async((digest_id,), eta=due_at)


def pend_digest_on_message_sent(sender, message, **kwargs):
    for digest_id, due_at in services.digest_pend(message=message):
        # robust: a broker hiccup must not stop the other users' digests;
        # the sweep delivers whatever was not scheduled.
        transaction.on_commit(partial(_schedule, digest_id, due_at), robust=True)


def drop_digest_on_message_read(sender, user, room, seq, previous_seq, **kwargs):
    services.pending_drop_read(user_id=user.pk, room_id=room.pk, seq=seq)


def drop_digest_on_message_updated(sender, message, **kwargs):
    if message.deleted:
        services.pending_drop_message(message_id=message.pk)
