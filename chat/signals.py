"""The chat's domain events: the documented seam to the other apps.

Services in ``chat.services`` send these after the transaction that caused
them has committed, never from ``post_save``. Receivers live in each app's
``receivers.py``, connect in ``AppConfig.ready()`` with a ``dispatch_uid``,
and only decide and enqueue Celery work: nothing slow runs on the sender's
thread, which may be serving a websocket. They hand tasks to
``chatproject.enqueue``, whose background thread publishes them, so a slow
broker never stalls a send.

message_sent(message)
    A new message was stored (not sent for a repeated ``client_id``).
    Receivers: ``devices.receivers.push_on_message_sent`` (no query: the
    message id joins the next ``devices.tasks.push_messages`` call, which
    starts a push task for offline members' phones where any have a device),
    ``notifications.receivers.pend_digest_on_message_sent`` (no query: the
    message id joins the next ``notifications.tasks.digest_pend_messages``
    call, which records the missed-message email in a worker),
    ``stats.receivers.recount_on_message_sent`` (daily usage counts, about
    one task a minute).

message_read(user, room, seq, previous_seq)
    ``user``'s read marker in ``room`` moved forward from ``previous_seq`` to
    ``seq``. Receivers: ``devices.receivers.clear_on_message_read`` (clear
    pushes on the user's other devices),
    ``notifications.receivers.drop_digest_on_message_read`` (deletes the
    pending email rows up to ``seq``: one indexed query).

message_updated(message)
    A message was edited or deleted (``message.deleted``). Receivers:
    ``notifications.receivers.drop_digest_on_message_updated`` (deletes the
    pending email rows of a deleted message: one indexed query).

user_online(user_id)
    The user's first socket opened, on any node. Receivers:
    ``stats.receivers.mark_active_on_user_online`` (daily active users).

user_gone(user_id)
    The user's last socket closed (or the node that held it stopped sending
    heartbeats). Receivers: none yet.
"""

from django.dispatch import Signal

message_sent = Signal()
message_read = Signal()
message_updated = Signal()
user_online = Signal()
user_gone = Signal()
