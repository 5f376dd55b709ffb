"""Baseline: the group chat most Channels tutorials build, served by daphne.

One consumer joins a group on connect and relays every text frame it receives
to the group through the channel layer; each socket then gets the frame from
its own channel. No database, no authentication, no storage: only the relay.
Run with ``daphne bench.minimal_channels:application``.
"""

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-minimal-channels",
    ALLOWED_HOSTS=["*"],
    INSTALLED_APPS=["channels"],
    # The tutorials' development layer, with its default capacity.
    CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
)
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

GROUP = "chat"


class RelayConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        await self.channel_layer.group_send(GROUP, {"type": "chat.message", "text": text_data})

    async def chat_message(self, event):
        await self.send(text_data=event["text"])


application = ProtocolTypeRouter(
    {"websocket": URLRouter([path("ws/chat/", RelayConsumer.as_asgi())])}
)
