"""The websocket endpoint ``/ws/chat/`` (docs/protocol.md).

The consumer is thin: it parses frames, checks the cheap things it already
knows (frame shape, the user's rooms, the rate limit), calls a service and
replies. Deliveries come from the process's ``Hub``, never from a
per-socket channel-layer channel.
"""

import asyncio
import json
import logging
import time
from collections import deque

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError

from ops import metrics

from . import selectors, services
from .errors import BadInput, ChatError, NotMember
from .hub import get_hub
from .payloads import dumps, message_payload

logger = logging.getLogger(__name__)

CLOSE_TOO_BIG = 1009
CLOSE_TOO_SLOW = 4008
UNAVAILABLE = "The service is briefly unavailable; send again with the same client_id."


def _encodable(frame):
    try:
        json.dumps(frame, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class TokenBucket:
    """``rate`` frames per second sustained, with bursts of up to ``burst``."""

    def __init__(self, rate, burst):
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self, now=None):
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class ChatConsumer(AsyncWebsocketConsumer):
    # No channel-layer channel per socket: the hub delivers to this consumer
    # directly, which saves a layer hop per frame and a receive task per socket.
    channel_layer_alias = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = None
        self.user_id = None
        self.rooms = set()
        self.counted = False
        self.hub = None
        self.closed = False
        # Frames from the hub wait here while hello or a resume is being sent,
        # so that the client sees every room's messages in seq order.
        self.held = None
        self.bucket = TokenBucket(settings.CHAT_RATE_PER_SECOND, settings.CHAT_RATE_BURST)
        self.arrived = None
        # message.send frames handed to the hub and not yet answered, oldest
        # first, as (client_id, future); ``_answer_sends`` acks them in order.
        self.sends_in_flight = deque()
        self._answering = None

    # --- connection ----------------------------------------------------

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not self.scope.get("origin_ok"):
            await self.close()  # before accept: daphne answers HTTP 403
            return
        self.user, self.user_id = user, user.pk
        hello, rooms = await database_sync_to_async(services.connection_open)(user=user)
        await self.accept()
        if hello is None:
            logger.info("user %s refused: too many sockets", self.user_id)
            await self.close(code=services.CLOSE_TOO_MANY_SOCKETS)
            return
        self.counted = True
        metrics.WEBSOCKETS_OPEN.inc()
        self.held = []
        self.hub = get_hub()
        await self.hub.start()
        await self.hub.attach(self, {r["id"]: r["last_seq"] for r in rooms})
        await self.send(text_data=dumps(hello))
        await self._release({r["id"]: r["last_seq"] for r in rooms})

    async def disconnect(self, code):
        self.closed = True
        # The sends are stored all the same; only their answers have nowhere to go.
        for _, future in self.sends_in_flight:
            future.cancel()
        if self._answering is not None:
            self._answering.cancel()
        if self.hub is not None:
            await self.hub.detach(self)
        if self.counted:
            self.counted = False
            metrics.WEBSOCKETS_OPEN.dec()
            await database_sync_to_async(services.connection_close)(user=self.user)

    async def close(self, code=None, reason=None):
        self.closed = True
        await super().close(code=code, reason=reason)

    async def send(self, text_data=None, bytes_data=None, close=False):
        if self._too_far_behind():
            return
        await super().send(text_data=text_data, bytes_data=bytes_data, close=close)

    def _too_far_behind(self):
        """True, and the socket is closing, once the client leaves too much unread.

        Frames are then dropped rather than buffered: the client, closed with
        ``CLOSE_TOO_SLOW``, reconnects and resumes by seq (docs/reliability.md).
        """
        unsent = self.scope.get("chat.unsent_bytes")
        if unsent is None or self.closed:
            return self.closed
        backlog = unsent()
        if backlog <= settings.CHAT_SEND_BUFFER_BYTES:
            return False
        logger.info("closing a slow socket of user %s: %s bytes unread", self.user_id, backlog)
        self.closed = True
        # Through the base class: this close frame waits behind the backlog, and
        # daphne drops the connection when the client does not answer it.
        asyncio.get_running_loop().create_task(
            AsyncWebsocketConsumer.close(self, code=CLOSE_TOO_SLOW)
        )
        return True

    async def _drained(self, timeout=10.0):
        """Pace a long replay by the client's reading, so that it never trips the bound above."""
        unsent = self.scope.get("chat.unsent_bytes")
        if unsent is None:
            return
        deadline = time.monotonic() + timeout
        while (
            not self.closed
            and unsent() > settings.CHAT_SEND_BUFFER_BYTES // 2
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.01)

    async def push(self, text, room_id=None, seq=None, prepared=None):
        """Called by the hub for one frame this socket should receive (``push_frames``)."""
        await self.push_frames([(text, room_id, seq)], prepared)

    async def push_frames(self, frames, prepared=None):
        """Called by the hub with frames for this socket, ``(text, room_id, seq)`` each.

        ``prepared`` is the same frames already framed (``prepare_frame`` or
        ``PreparedFrames``), shared by every socket the hub delivers them to;
        under daphne they are written directly, in one write, skipping the
        per-socket ASGI send.
        """
        if self.closed:
            return
        if self.held is not None:
            self.held.extend(frames)
            return
        write = self.scope.get("chat.write_prepared")
        if prepared is not None and write is not None:
            if not self._too_far_behind():
                write(prepared)
            return
        for text, _, _ in frames:
            await self.send(text_data=text)

    async def _release(self, sent_up_to):
        """Send the held frames, minus messages the client already has."""
        held, self.held = self.held, None
        for text, room_id, seq in held or ():
            if seq is not None and seq <= sent_up_to.get(room_id, 0):
                continue
            await self.send(text_data=text)

    async def dispatch(self, message):
        """Channels' dispatch, without its database hop per frame.

        Channels (4.2 and later) closes stale database connections before
        every handler, on the database thread: for this consumer, a hop per
        received frame, queued behind the batch in progress there
        (docs/performance.md, fourth round). The consumer reaches the
        database only through ``database_sync_to_async`` and the hub's
        batches, which close stale connections around each call themselves.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- frames from the client ----------------------------------------

    async def websocket_receive(self, message):
        # When the frame arrived (chat.backpressure), for the rate limit: frames
        # queue while a send is in the database, and must not earn tokens there.
        self.arrived = message.get("chat.arrived")
        await super().websocket_receive(message)

    async def receive(self, text_data=None, bytes_data=None):
        if bytes_data is not None:
            await self._limited_error(
                "bad_frame", "Binary frames are not supported; send JSON text."
            )
            return
        if len(text_data) > settings.CHAT_MAX_FRAME_BYTES // 4 and (
            len(text_data.encode("utf-8")) > settings.CHAT_MAX_FRAME_BYTES
        ):
            await self._sends_answered()
            await self.close(code=CLOSE_TOO_BIG)
            return
        try:
            frame = json.loads(text_data)
            # A lone surrogate escape (\ud800) decodes but cannot be stored or sent back.
            if "\\u" in text_data and not _encodable(frame):
                raise ValueError("lone surrogate")
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
            await self._limited_error("bad_json", "The frame is not valid JSON.")
            return
        if not isinstance(frame, dict):
            await self._limited_error("bad_frame", "A frame must be a JSON object.")
            return
        client_id = frame.get("client_id") if isinstance(frame.get("client_id"), str) else None
        if not self.bucket.take(self.arrived):
            await self.error("rate_limited", "Too many frames; slow down.", client_id)
            return
        handler = (
            self.handlers.get(frame.get("type")) if isinstance(frame.get("type"), str) else None
        )
        if handler is None:
            await self.error("unknown_type", "Unknown or missing frame type.", client_id)
            return
        if handler is not ChatConsumer.on_message_send:
            # Only sends overlap; anything else waits for their answers, so that
            # its effects and replies come after theirs.
            await self._sends_answered()
        try:
            await handler(self, frame)
        except ChatError as exc:
            await self.error(exc.code, exc.detail, client_id)
        except DatabaseError as exc:
            # The database is unreachable or failing over: the frame's transaction
            # rolled back (or, if its commit raced the failure, a retry with the
            # same client_id finds it). The socket stays open; the client retries.
            self._log_unavailable(frame["type"], exc)
            await self.error("unavailable", UNAVAILABLE, client_id)

    def _log_unavailable(self, frame_type, exc):
        logger.warning(
            "database unavailable for a %s frame of user %s: %s",
            frame_type,
            self.user_id,
            type(exc).__name__,
        )

    async def _limited_error(self, code, detail):
        if self.bucket.take(self.arrived):
            await self.error(code, detail)
        else:
            await self.error("rate_limited", "Too many frames; slow down.")

    async def error(self, code, detail, client_id=None):
        """Send an error frame, after the answers to the socket's earlier sends."""
        await self._sends_answered()
        await self._error_now(code, detail, client_id)

    async def _error_now(self, code, detail, client_id=None):
        metrics.ERROR_FRAMES.labels(code=code).inc()
        if code == "rate_limited":
            metrics.RATE_LIMIT_HITS.labels(path="websocket").inc()
        frame = {"type": "error", "code": code, "detail": detail}
        if client_id is not None:
            frame["client_id"] = client_id
        await self.send(text_data=dumps(frame))

    async def _member_room(self, frame):
        room_id = services.require_id(frame.get("room"), "room")
        if room_id not in self.rooms:
            await self._learn_rooms([room_id])
            if room_id not in self.rooms:
                raise NotMember()
        return room_id

    async def _learn_rooms(self, room_ids):
        """Join locally any of these rooms the database says the user is in.

        The rooms a socket knows come from ``hello`` and then from the hub's
        "joined" events, which travel through the channel layer; a client that
        creates a room over REST and sends at once can beat its event here.
        Asking the database only for a room this socket does not know keeps
        the hot path off it, and a refusal stays ``not_member``.
        """
        unknown = [room_id for room_id in room_ids if room_id not in self.rooms]
        if not unknown:
            return
        joined = await database_sync_to_async(selectors.member_last_seqs)(self.user_id, unknown)
        for room_id, last_seq in joined.items():
            await self.hub.join_room(self, room_id, last_seq)

    async def on_message_send(self, frame):
        """Hand the send to the hub and go on to the socket's next frame.

        A client that sends several messages in a row has them in one
        database batch instead of one batch each (docs/performance.md,
        "Pipelined sends"). They are stored in the order they arrived, and
        ``_answer_sends`` acks them in that order; every other reply waits
        for those acks (``_sends_answered``). At most
        ``CHAT_MAX_SENDS_IN_FLIGHT`` wait at once: beyond that the socket's
        frames queue, and past ``CHAT_MAX_QUEUED_FRAMES`` it is not read.
        """
        body, client_id = frame.get("body"), frame.get("client_id")
        services.validate_client_id(client_id)
        services.validate_body(body)
        room_id = await self._member_room(frame)
        future = self.hub.submit_send(
            user=self.user, room_id=room_id, body=body, client_id=client_id
        )
        self.sends_in_flight.append((client_id, future))
        if self._answering is None or self._answering.done():
            self._answering = asyncio.get_running_loop().create_task(self._answer_sends())
        if len(self.sends_in_flight) >= settings.CHAT_MAX_SENDS_IN_FLIGHT:
            await asyncio.wait([self.sends_in_flight[0][1]])

    async def _sends_answered(self):
        """Wait until every send handed to the hub so far has been answered."""
        task = self._answering
        if task is not None and not task.done() and task is not asyncio.current_task():
            # wait(), not await: cancelling this frame must not cancel the answers.
            await asyncio.wait([task])

    async def _answer_sends(self):
        """Ack (or refuse) the socket's sends in flight, in the order they arrived."""
        pending = self.sends_in_flight
        while pending:
            client_id, future = pending[0]
            try:
                await self._answer_send(client_id, future)
            finally:
                # Even when answering failed (the socket went away), so that a
                # later answerer does not answer this send a second time.
                pending.popleft()

    async def _answer_send(self, client_id, future):
        try:
            message, created = await future
        except ChatError as exc:
            await self._error_now(exc.code, exc.detail, client_id)
        except DatabaseError as exc:
            self._log_unavailable("message.send", exc)
            await self._error_now("unavailable", UNAVAILABLE, client_id)
        except Exception:
            # The send's fate is unknown to us; a retry with the same
            # client_id stores it once at most.
            logger.exception("message.send of user %s failed", self.user_id)
            await self._error_now("unavailable", UNAVAILABLE, client_id)
        else:
            await self.send(
                text_data=dumps(
                    {
                        "type": "message.ack",
                        "client_id": client_id,
                        "message": message_payload(message),
                        "duplicate": not created,
                    }
                )
            )

    async def on_message_read(self, frame):
        seq = services.require_seq(frame.get("seq"))
        room_id = await self._member_room(frame)
        await database_sync_to_async(services.message_read)(
            user=self.user, room_id=room_id, seq=seq
        )

    async def on_typing(self, frame):
        room_id = await self._member_room(frame)
        text = services.typing_notify(user=self.user, room_id=room_id)
        await self.hub.publish_room(room_id, text, exclude_user=self.user_id)

    async def on_resume(self, frame):
        wanted = frame.get("rooms")
        if not isinstance(wanted, dict):
            raise BadInput("'rooms' must be an object of room id to last seq.")
        parsed = {}
        for key, last_seq in wanted.items():
            if not (isinstance(key, str) and key.isascii() and key.isdigit() and len(key) < 19):
                raise BadInput("'rooms' keys must be room ids.")
            parsed[int(key)] = services.require_seq(last_seq, "rooms")
        await self._learn_rooms(list(parsed))
        unknown = sorted(r for r in parsed if r not in self.rooms)
        if unknown:
            await self.error("not_member", f"Not a member of rooms {unknown}; they were skipped.")
        parsed = {r: s for r, s in parsed.items() if r in self.rooms}
        self.held = [] if self.held is None else self.held
        metrics.RESUME_REQUESTS.inc()
        sent = {}
        try:
            replay = await database_sync_to_async(selectors.resume_replay)(
                parsed, settings.CHAT_RESUME_LIMIT
            )
            truncated = []
            for room_id, (messages, last_sent, cut) in replay.items():
                if cut:
                    truncated.append(room_id)
                    metrics.RESUME_TRUNCATED.inc()
                    continue
                metrics.RESUME_REPLAYED.inc(len(messages))
                for message in messages:
                    await self._drained()
                    await self.send(
                        text_data=dumps(
                            {"type": "message.new", "message": message_payload(message)}
                        )
                    )
                sent[room_id] = last_sent
            done = {"type": "resume.done", "rooms": {str(r): s for r, s in sent.items()}}
            if truncated:
                done["truncated"] = truncated
            await self.send(text_data=dumps(done))
        finally:
            await self._release(sent)

    async def on_ping(self, frame):
        await self.send(text_data='{"type":"pong"}')

    handlers = {
        "message.send": on_message_send,
        "message.read": on_message_read,
        "typing": on_typing,
        "resume": on_resume,
        "ping": on_ping,
    }
