"""The per-process fan-out hub (docs/architecture.md, "Fan-out").

A daphne process holds one ``Hub`` per event loop. The hub owns the process's
only channel-layer channel and joins it to the group of every room and user
that a local socket needs, once. Events published by ``chat.fanout`` arrive
here once per process and are handed to the local consumers directly, so
one message costs one channel-layer operation per node instead of one per
socket, and its JSON text is shared by every socket.

The layer is at-most-once. The hub remembers the highest ``seq`` it has seen
per room; when a message arrives with a gap before it, the hub first reads
the missing messages from the database and delivers them in order, and it
drops repeats. Group subscriptions are renewed with every heartbeat, so
expiry, or a Redis restart that lost them, heals within one interval.
"""

import asyncio
import contextvars
import logging
import threading
from collections import defaultdict, deque

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from ops import metrics

from . import fanout, presence, selectors, services
from .backpressure import PreparedFrames, prepare_frame
from .payloads import dumps, message_payload

logger = logging.getLogger(__name__)

_hubs = {}

# The most sends one database hop carries; a bound on how long one batch holds the write lock.
SEND_BATCH_MAX = 100
# Turns of the loop a finished batch waits before the next one starts (``_send_batches``).
SEND_BATCH_YIELDS = 3
# The most events one layer message carries (``_publish_outbox``).
PUBLISH_BATCH_MAX = 100


def get_hub():
    """The hub of the running event loop, created on first use."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        for stale in [other for other in _hubs if other.is_closed()]:
            del _hubs[stale]
        hub = _hubs[loop] = Hub()
    return hub


def _is_message(event):
    """A stored message's event: it has a seq and goes to every socket of the room."""
    return (
        event.get("type") == "hub.room"
        and event.get("seq") is not None
        and event.get("exclude_user") is None
    )


def _raise_if_cancelling():
    """Honour a cancellation that a library below swallowed.

    redis-py can lose a cancellation that lands while a blocking BRPOP
    returns (redis/redis-py#2028); channels_redis then hands back the
    message as if nothing happened, about one cancel in ten under traffic.
    A loop that kept going would hang every shutdown that waits for it.
    The task still counts the request (``Task.cancelling``), so each of the
    hub's loops reads it once a turn. Remove once the layer below propagates
    every cancellation.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _settle(task, timeout):
    if task is not None and not task.done():
        await asyncio.wait([task], timeout=timeout)


class Hub:
    def __init__(self):
        self.layer = get_channel_layer()
        self.channel = None
        self.rooms = defaultdict(set)  # room id -> local consumers
        self.users = defaultdict(set)  # user id -> local consumers
        self.room_seq = {}  # room id -> highest seq seen here
        self._start_lock = asyncio.Lock()
        self._tasks = []
        self._outbox = deque()  # (group, event) published by this process, in order
        self._publishing = None
        self._wake_pending = False
        self._loop = None
        self._sends = []  # (message_send kwargs, future) waiting for the next batch
        self._sending = None
        # Set on the database thread while it runs a batch for this hub.
        self._batch_thread = threading.local()

    # --- lifecycle -----------------------------------------------------

    async def start(self):
        async with self._start_lock:
            if self.channel is not None:
                return
            # The default "specific." prefix matters: channels_redis reads
            # every process-local channel through one shared key.
            self.channel = await self.layer.new_channel()
            await self._subscribe(fanout.PRESENCE_GROUP)
            await database_sync_to_async(presence.node_heartbeat)()
            # A fresh context each: the hub serves every connection, so it must
            # not log under the id of the one whose connect started it.
            self._tasks = [
                asyncio.create_task(self._receive_loop(), context=contextvars.Context()),
                asyncio.create_task(self._heartbeat_loop(), context=contextvars.Context()),
            ]
            self._loop = asyncio.get_running_loop()
            fanout.set_publisher(self._loop, self.enqueue_publish)
            logger.info("hub %s started on node %s", self.channel, presence.NODE_NAME)

    async def stop(self, timeout=5.0):
        """Let the sends and publishes in flight finish, then cancel the loops and wait for them.

        Waiting matters: a loop that outlived its cancel would hang the
        event loop's close (see ``_raise_if_cancelling``).
        """
        await _settle(self._sending, timeout)
        # Read after the batch settled: a batch that finishes starts its publish.
        await _settle(self._publishing, timeout)
        tasks = [t for t in (*self._tasks, self._sending, self._publishing) if t is not None]
        self._tasks = []
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=timeout)
            for task in stuck:
                logger.error("hub task %s did not stop when cancelled", task.get_name())

    def local_sockets(self):
        """Every consumer this hub delivers to (a graceful restart closes them, ops.shutdown)."""
        return {consumer for sockets in self.users.values() for consumer in sockets}

    async def _subscribe(self, group):
        try:
            await self.layer.group_add(group, self.channel)
        except Exception:
            # The next heartbeat subscribes again; gaps are refilled by seq.
            logger.warning("could not subscribe to %s", group, exc_info=True)

    async def _unsubscribe(self, group):
        try:
            await self.layer.group_discard(group, self.channel)
        except Exception:
            logger.warning("could not unsubscribe from %s", group, exc_info=True)

    # --- local sockets -------------------------------------------------

    async def attach(self, consumer, room_seqs):
        """Start delivering the user's events and the rooms' messages to consumer."""
        sockets = self.users[consumer.user_id]
        sockets.add(consumer)
        if len(sockets) == 1:
            await self._subscribe(fanout.user_group(consumer.user_id))
        for room_id, last_seq in room_seqs.items():
            await self.join_room(consumer, room_id, last_seq)

    async def detach(self, consumer):
        sockets = self.users.get(consumer.user_id)
        if sockets is not None:
            sockets.discard(consumer)
            if not sockets:
                del self.users[consumer.user_id]
                await self._unsubscribe(fanout.user_group(consumer.user_id))
        for room_id in list(consumer.rooms):
            await self._remove_from_room(consumer, room_id)

    async def join_room(self, consumer, room_id, last_seq):
        """Deliver the room to consumer from now on."""
        consumer.rooms.add(room_id)
        local = self.rooms[room_id]
        local.add(consumer)
        if len(local) == 1:
            self.room_seq.setdefault(room_id, last_seq)
            await self._subscribe(fanout.room_group(room_id))

    async def _remove_from_room(self, consumer, room_id):
        consumer.rooms.discard(room_id)
        local = self.rooms.get(room_id)
        if local is None:
            return
        local.discard(consumer)
        if not local:
            del self.rooms[room_id]
            self.room_seq.pop(room_id, None)
            await self._unsubscribe(fanout.room_group(room_id))

    # --- publishing and sending ---------------------------------------

    def enqueue_publish(self, group, event):
        """Queue an event for the layer (``chat.fanout``), from any thread; sent in order.

        The caller does not wait for the send. A batch of commits queues many
        events, and only the first of them wakes the loop: a wake-up is a
        system call, which profiling found costlier than the send itself.
        """
        self._outbox.append((group, event))  # deque.append is atomic across threads
        if getattr(self._batch_thread, "active", False):
            return  # the batch's own thread: _send_batches publishes when it returns
        if not self._wake_pending:
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._start_publishing)

    def _start_publishing(self):
        # Cleared before the queue is read, so an event queued from now on
        # either is seen by the running publisher or schedules a new wake-up.
        self._wake_pending = False
        if self._publishing is None or self._publishing.done():
            self._publishing = self._loop.create_task(
                self._publish_outbox(), context=contextvars.Context()
            )

    async def _publish_outbox(self):
        outbox = self._outbox
        while outbox:
            group, event = outbox.popleft()
            # The events queued right behind it for the same group (a batch's
            # messages to one room) travel as one layer message: one layer
            # operation, and one receive on every node, for all of them.
            # Only a consecutive run, so events to different groups keep
            # their order.
            events = [event]
            while outbox and outbox[0][0] == group and len(events) < PUBLISH_BATCH_MAX:
                events.append(outbox.popleft()[1])
            if len(events) > 1:
                event = {"type": "hub.batch", "events": events}
            try:
                await self.layer.group_send(group, event)
            except Exception:
                # NOTE: the write has committed; the hubs and clients repair the gap by seq.
                logger.warning("channel layer send to %s failed", group, exc_info=True)

    def submit_send(self, **kwargs):
        """Queue a ``services.message_send`` for the next batch; returns its future.

        Sends that arrive while a batch is in the database wait for the next
        one, so under load many messages share one thread hop and one commit
        (docs/performance.md); alone, a send goes at once. Sends are stored
        in the order they were submitted. The future holds ``(message,
        created)`` or the send's exception; cancelling it before its batch
        ends only drops the answer, not the send.
        """
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._sends.append((kwargs, future))
        if self._sending is None or self._sending.done():
            self._sending = loop.create_task(self._send_batches(), context=contextvars.Context())
        return future

    async def _send_batches(self):
        while self._sends:
            batch, self._sends = self._sends[:SEND_BATCH_MAX], self._sends[SEND_BATCH_MAX:]
            try:
                results = await database_sync_to_async(self._run_batch)(
                    [kwargs for kwargs, _ in batch]
                )
            except Exception as exc:
                results = [exc] * len(batch)
            if self._outbox:
                # The batch's events, queued without waking the loop: this
                # coroutine is the wake-up, and it runs on the loop already.
                self._start_publishing()
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the socket went away meanwhile
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
            # Let the sockets whose sends just finished run first: each acks
            # and hands in its next waiting frame within a few turns of the
            # loop, and they share the next batch instead of the first of
            # them taking the database thread alone (docs/performance.md).
            for _ in range(SEND_BATCH_YIELDS):
                await asyncio.sleep(0)

    def _run_batch(self, sends):
        """On the database thread: the batch, with its publishes left for the loop to start.

        Waking the loop from this thread is a system call per batch, and a
        wait for the interpreter lock that the profile showed at about a
        tenth of the thread's time; the loop resumes ``_send_batches`` right
        after the batch anyway, and starts the publisher there.
        """
        self._batch_thread.active = True
        try:
            return services.message_send_batch(sends=sends)
        finally:
            self._batch_thread.active = False

    async def publish_room(self, room_id, text, *, exclude_user=None):
        """Publish a frame that is not stored (typing) from the event loop."""
        try:
            await self.layer.group_send(
                fanout.room_group(room_id),
                fanout.room_event(room_id, text, exclude_user=exclude_user),
            )
        except Exception:
            logger.warning("could not publish to room %s", room_id, exc_info=True)

    # --- events from the layer -----------------------------------------

    async def _receive_loop(self):
        delay = 0.1
        while True:
            _raise_if_cancelling()
            try:
                event = await self.layer.receive(self.channel)
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("channel layer receive failed; retrying", exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            await self._logged(event.get("type"), self.dispatch(event))

    async def _logged(self, kind, step):
        """Await ``step``, the handling of an event; a failure is logged and costs only it."""
        try:
            await step
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("hub could not dispatch a %s event", kind)

    async def dispatch(self, event):
        kind = event.get("type")
        logger.debug("hub got %s", kind)
        if kind == "hub.room":
            await self._on_room(event)
        elif kind == "hub.batch":
            await self._on_batch(event["events"])
        elif kind == "hub.user":
            await self._on_user(event)
        elif kind == "hub.presence":
            await self._on_presence(event)
        else:
            logger.warning("hub ignored an event of unknown type %r", kind)

    async def _on_batch(self, events):
        """The events of one layer message, in order.

        A run of stored messages to one room (what a batch of sends to it
        publishes) goes to each local socket in one write, not one per
        message (docs/performance.md, fourth round).
        """
        run = []
        for each in events:
            if run and not (_is_message(each) and each["room"] == run[0]["room"]):
                await self._logged("hub.room", self._on_messages(run))
                run = []
            if _is_message(each):
                run.append(each)
            else:
                # One bad event must not cost the others of its batch.
                await self._logged(each.get("type"), self.dispatch(each))
        if run:
            await self._logged("hub.room", self._on_messages(run))

    async def _on_room(self, event):
        if _is_message(event):
            await self._on_messages([event])
            return
        room_id, exclude, text = event["room"], event.get("exclude_user"), event["text"]
        prepared = prepare_frame(text)
        for consumer in list(self.rooms.get(room_id, ())):
            if consumer.user_id != exclude:
                await consumer.push(text, room_id, None, prepared)

    async def _on_messages(self, events):
        """Deliver stored messages of one room, in seq order, once each.

        The frames still to go out collect in ``frames`` and leave together;
        a gap flushes them first, so that the refilled messages follow them.
        """
        room_id = events[0]["room"]
        frames = []
        for event in events:
            seq = event["seq"]
            last = self.room_seq.get(room_id)
            if last is not None and seq <= last:
                continue  # already delivered by a gap refill
            if last is not None and seq > last + 1:
                await self._push_frames(room_id, frames)
                frames = []
                await self._refill(room_id, last, seq)
                if seq <= self.room_seq.get(room_id, 0):
                    continue  # a tail refill delivered it while we read the gap
            if room_id in self.rooms:
                self.room_seq[room_id] = seq
            metrics.fanout_observed(event.get("at"))
            frames.append((event["text"], room_id, seq))
        await self._push_frames(room_id, frames)

    async def _push_frames(self, room_id, frames):
        """Frames of one room to each of its local sockets, framed once, in one write each."""
        sockets = list(self.rooms.get(room_id, ()))
        if not frames or not sockets:
            return
        metrics.MESSAGES_DELIVERED.inc(len(sockets) * len(frames))
        prepared = PreparedFrames([text for text, _, _ in frames])
        for consumer in sockets:
            await consumer.push_frames(frames, prepared)

    async def _refill(self, room_id, last, seq):
        """Deliver the messages the layer lost between ``last`` and ``seq``."""
        missing = await database_sync_to_async(selectors.messages_between)(room_id, last, seq)
        logger.info("hub refilled %s lost messages in room %s", len(missing), room_id)
        for message in missing:
            # Claim the seq before pushing: two refills of one room (a gap and a
            # tail) may overlap, and each message must go out once.
            if room_id not in self.rooms or message.seq <= self.room_seq.get(room_id, 0):
                continue
            self.room_seq[room_id] = message.seq
            text = dumps({"type": "message.new", "message": message_payload(message)})
            await self._push_frames(room_id, [(text, room_id, message.seq)])

    async def _refill_tails(self):
        """Deliver the end of a burst whose events the layer dropped.

        A lost message is otherwise noticed when the next one arrives with a
        gap before it; after the last message of a burst nothing arrives, so
        each heartbeat compares the rooms' newest seq with what was delivered.
        """
        if not self.room_seq:
            return
        newest = await database_sync_to_async(selectors.last_seqs)(list(self.room_seq))
        for room_id, last_seq in newest.items():
            seen = self.room_seq.get(room_id)
            if seen is not None and last_seq > seen:
                await self._refill(room_id, seen, last_seq + 1)

    async def _on_user(self, event):
        action, room_id = event["action"], event.get("room")
        for consumer in list(self.users.get(event["user"], ())):
            if action == "joined":
                await self.join_room(consumer, room_id, event.get("seq") or 0)
            elif action == "left":
                await self._remove_from_room(consumer, room_id)
            elif action == "close":
                await consumer.close(code=event.get("code") or 1008)
                continue
            if event.get("text"):
                await consumer.push(event["text"])

    async def _on_presence(self, event):
        user_id, text = event["user"], event["text"]
        prepared = prepare_frame(text)
        seen = set()
        for room_id in event["rooms"]:
            for consumer in list(self.rooms.get(room_id, ())):
                if consumer.user_id != user_id and consumer not in seen:
                    seen.add(consumer)
                    await consumer.push(text, prepared=prepared)

    # --- heartbeat -----------------------------------------------------

    async def _heartbeat_loop(self):
        interval = max(settings.CHAT_PRESENCE_EXPIRY / 3, 1)
        while True:
            _raise_if_cancelling()
            await asyncio.sleep(interval)
            try:
                gone = await database_sync_to_async(presence.node_heartbeat)()
                for user_id in gone:
                    await database_sync_to_async(_announce_gone)(user_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("presence heartbeat failed", exc_info=True)
            await self._resubscribe()
            try:
                await self._refill_tails()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("tail refill failed", exc_info=True)

    async def _resubscribe(self):
        groups = [fanout.PRESENCE_GROUP]
        groups += [fanout.room_group(r) for r in self.rooms]
        groups += [fanout.user_group(u) for u in self.users]
        for group in groups:
            await self._subscribe(group)


def _announce_gone(user_id):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_id).first()
    if user is not None:
        services.presence_announce(user, "offline")
