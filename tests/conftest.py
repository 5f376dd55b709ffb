"""Shared fixtures: users, rooms, and websocket clients of the ASGI application."""

import asyncio
import json

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from chat import hub as hub_module
from chat import services


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test gets a new layer and hub: both hold per-event-loop state."""
    channel_layers.backends.clear()
    hub_module._hubs.clear()
    yield
    for hub in list(hub_module._hubs.values()):
        for task in [*hub._tasks, hub._publishing, hub._sending]:
            if task is not None:
                task.cancel()
    hub_module._hubs.clear()
    channel_layers.backends.clear()


@pytest.fixture
def make_user(db):
    def make(username, **extra):
        return get_user_model().objects.create_user(
            username, f"{username}@example.com", f"pw-{username}-2026", **extra
        )

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def carol(make_user):
    return make_user("carol")


@pytest.fixture
def room(alice, bob):
    return services.room_create(owner=alice, name="general", member_ids=[bob.pk])


class Client:
    """A websocket client of the ASGI app that waits for frames by type."""

    def __init__(self, communicator):
        self.communicator = communicator
        self.seen = []
        self.hello = None

    async def send(self, **frame):
        await self.communicator.send_to(text_data=json.dumps(frame))

    async def send_raw(self, text=None, data=None):
        await self.communicator.send_to(text_data=text, bytes_data=data)

    async def say(self, room, body, client_id):
        await self.send(type="message.send", room=room, body=body, client_id=client_id)

    async def next_frame(self, timeout=3):
        """The next frame, without cancelling the application on a timeout
        (asgiref's receive_output would, which would end the socket)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.communicator.output_queue.empty():
            if self.communicator.future.done():
                self.communicator.future.result()
                raise ConnectionError("the application ended")
            if loop.time() > deadline:
                raise TimeoutError
            await asyncio.sleep(0.005)
        out = await self.communicator.receive_output()
        if out["type"] == "websocket.close":
            raise ConnectionError(f"closed with {out.get('code')}")
        return json.loads(out["text"])

    async def expect(self, kind, timeout=3, where=None):
        for i, frame in enumerate(self.seen):
            if frame["type"] == kind and (where is None or where(frame)):
                return self.seen.pop(i)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"no {kind!r} frame; saw {self.seen[-5:]}")
            try:
                frame = await self.next_frame(left)
            except TimeoutError:
                raise AssertionError(f"no {kind!r} frame; saw {self.seen[-5:]}") from None
            if frame["type"] == kind and (where is None or where(frame)):
                return frame
            self.seen.append(frame)

    async def quiet(self, kind, seconds=0.3):
        try:
            frame = await self.expect(kind, timeout=seconds)
        except AssertionError:
            return
        raise AssertionError(f"unexpected {kind!r} frame: {frame}")

    async def close(self):
        await self.communicator.disconnect()


@pytest_asyncio.fixture
async def connect():
    """``await connect(user)`` opens an authenticated socket and reads ``hello``."""
    from chatproject.asgi import application

    opened = []

    async def open_socket(user=None, *, headers=None, expect_hello=True):
        if headers is None:
            token, _ = await database_sync_to_async(Token.objects.get_or_create)(user=user)
            headers = [(b"authorization", f"Token {token.key}".encode())]
        communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
        connected, code = await communicator.connect(timeout=5)
        client = Client(communicator)
        client.connected, client.code = connected, code
        if connected:
            opened.append(client)
            if expect_hello:
                client.hello = await client.expect("hello")
        return client

    yield open_socket
    for client in opened:
        try:
            await client.close()
        except BaseException:  # already closed by the test or the server
            pass
    # Stopped here, on its own loop, so that the loop's close finds nothing left to cancel.
    hub = hub_module._hubs.get(asyncio.get_running_loop())
    if hub is not None:
        await hub.stop()


@pytest.fixture
def live_stack():
    """``live_stack(db=, layer=, env=)`` builds a migrated stack; processes stop after the test."""
    from tests.live import LiveStack

    stacks = []

    def build(**kwargs):
        stack = LiveStack(**kwargs)
        stacks.append(stack)
        return stack

    yield build
    for stack in stacks:
        stack.stop()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "live_stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.live)
