"""Websocket handshake authentication and Origin checking (docs/protocol.md, "Connecting").

A handshake is authenticated by ``Authorization: Token <key>`` (DRF tokens)
or, without that header, by the Django session cookie. A handshake that
carries ``Origin`` must come from one of ``ALLOWED_HOSTS``; one without
``Origin`` is accepted only with a token (native apps), which stops
cross-site websocket hijacking with a browser's cookie. The consumer refuses
(HTTP 403) whatever this middleware leaves anonymous or not ``origin_ok``.
"""

from urllib.parse import urlsplit

from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import split_domain_port, validate_host


@database_sync_to_async
def user_for_token(key):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return AnonymousUser()
    return token.user


def origin_allowed(origin):
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    host, _port = split_domain_port(parts.netloc)
    return bool(host) and validate_host(host, settings.ALLOWED_HOSTS)


class TokenOrSessionAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", ()))
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        origin = headers.get(b"origin")
        scope = dict(scope)
        if authorization:
            kind, _, key = authorization.partition(" ")
            if kind.lower() == "token" and key.strip():
                scope["user"] = await user_for_token(key.strip())
            else:
                scope["user"] = AnonymousUser()
            scope["auth_method"] = "token"
        else:
            user = await get_user(scope)
            scope["user"] = user if user.is_active else AnonymousUser()
            scope["auth_method"] = "session"
        if origin is None:
            scope["origin_ok"] = scope["auth_method"] == "token"
        else:
            scope["origin_ok"] = origin_allowed(origin.decode("latin-1"))
        return await super().__call__(scope, receive, send)


def WebsocketAuthMiddleware(inner):
    """Cookies and session, then token-or-session authentication and the Origin check."""
    return CookieMiddleware(SessionMiddleware(TokenOrSessionAuthMiddleware(inner)))
