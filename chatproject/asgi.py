"""ASGI entry point: ``daphne chatproject.asgi:application``.

HTTP goes to Django; ``/ws/chat/`` goes to the chat consumer behind the
websocket authentication middleware (docs/protocol.md, "Connecting").
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from chat.auth import WebsocketAuthMiddleware  # noqa: E402
from chat.consumers import ChatConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": WebsocketAuthMiddleware(URLRouter([path("ws/chat/", ChatConsumer.as_asgi())])),
    }
)
