"""A websocket client for tests against real daphne processes (the ``websockets`` library)."""

import asyncio
import json
import uuid

import websockets


class WsClient:
    def __init__(self, ws):
        self.ws = ws
        self.seen = []
        self.hello = None

    @classmethod
    async def open(cls, url, token, *, origin=None, expect_hello=True):
        headers = [("Authorization", f"Token {token}")]
        if origin:
            headers.append(("Origin", origin))
        ws = await websockets.connect(
            url, additional_headers=headers, open_timeout=10, ping_interval=None, max_size=2**22
        )
        client = cls(ws)
        if expect_hello:
            client.hello = await client.expect("hello")
        return client

    async def send(self, **frame):
        await self.ws.send(json.dumps(frame))

    async def say(self, room, body, client_id=None):
        client_id = client_id or uuid.uuid4().hex
        await self.send(type="message.send", room=room, body=body, client_id=client_id)
        return client_id

    async def expect(self, kind, timeout=5.0, where=None):
        """The next frame of this type (matching ``where``); other frames are kept."""
        for i, frame in enumerate(self.seen):
            if frame.get("type") == kind and (where is None or where(frame)):
                return self.seen.pop(i)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            try:
                if left <= 0:
                    raise TimeoutError
                raw = await asyncio.wait_for(self.ws.recv(), left)
            except TimeoutError:
                raise AssertionError(
                    f"no {kind!r} within {timeout}s; saw {self.seen[-5:]}"
                ) from None
            frame = json.loads(raw)
            if frame.get("type") == kind and (where is None or where(frame)):
                return frame
            self.seen.append(frame)

    async def quiet(self, kind, seconds=0.5):
        try:
            frame = await self.expect(kind, timeout=seconds)
        except AssertionError:
            return
        raise AssertionError(f"unexpected {kind!r} frame: {frame}")

    async def drain(self, seconds=0.3):
        try:
            while True:
                self.seen.append(json.loads(await asyncio.wait_for(self.ws.recv(), seconds)))
        except (TimeoutError, websockets.ConnectionClosed):
            pass

    def messages(self, room):
        """Every message.new kept in ``seen`` for the room, by seq."""
        return sorted(
            (
                f["message"]
                for f in self.seen
                if f.get("type") == "message.new" and f["message"]["room"] == room
            ),
            key=lambda m: m["seq"],
        )

    def held(self, room):
        """The room's messages as a client following the contract holds them.

        The contract's clients apply ``message.new`` by seq and ignore a seq
        they already hold: a live frame can race a ``resume`` replay of the
        same message. Two copies of one seq must be the same message.
        """
        held = {}
        for message in self.messages(room):
            first = held.setdefault(message["seq"], message)
            assert first == message, f"two different messages for seq {message['seq']}"
        return [held[seq] for seq in sorted(held)]

    async def close(self):
        await self.ws.close()
