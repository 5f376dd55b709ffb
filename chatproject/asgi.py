"""ASGI entry point: ``daphne chatproject.asgi:application``.

HTTP goes to Django; ``/ws/chat/`` goes to the chat consumer behind the
websocket authentication middleware (docs/protocol.md, "Connecting").
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")

from ops.startup import exit_on_improper_configuration, refuse_to_start_if_misconfigured  # noqa: E402

# Django must be set up before anything imports models. A production process
# with a broken configuration exits here with one line (docs/deployment.md).
with exit_on_improper_configuration():
    django_asgi_app = get_asgi_application()
refuse_to_start_if_misconfigured()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from chat.auth import WebsocketAuthMiddleware  # noqa: E402
from chat.backpressure import BackpressureMiddleware  # noqa: E402
from chat.consumers import ChatConsumer  # noqa: E402
from ops import runtime, shutdown  # noqa: E402
from ops.asgi import ConnectionIdMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # BackpressureMiddleware must see daphne's own send and receive: it stays outermost.
        "websocket": BackpressureMiddleware(
            ConnectionIdMiddleware(
                WebsocketAuthMiddleware(URLRouter([path("ws/chat/", ChatConsumer.as_asgi())]))
            )
        ),
    }
)

# SIGTERM drains the node: sockets close with 1012, then daphne exits.
shutdown.install()

# Last, once everything is loaded (ops.runtime).
runtime.tune_web_process(settings)
