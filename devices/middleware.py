"""Registers the device named by ``X-Device-ID`` / ``X-Device-Platform`` on authenticated calls.

PROTOCOL.md: any authenticated REST call carrying both headers registers that
device exactly as ``POST /api/devices/`` does. DRF authenticates inside the
view and sets the user on the underlying Django request, so this acts after
the view has run. A malformed header is ignored (and logged): it never
changes the answer to the call it rode on.
"""

import logging

from .services import device_seen

logger = logging.getLogger(__name__)


class DeviceHeaderMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        token = request.headers.get("X-Device-ID")
        platform = request.headers.get("X-Device-Platform")
        if not (token and platform):
            return response
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or _unregisters(request):
            return response
        try:
            device_seen(user=user, platform=platform.strip().lower(), token=token)
        except Exception:
            # The call itself succeeded; failing its answer now would be worse
            # than missing one refresh of the registration.
            logger.exception("X-Device-ID registration failed for user %s", user.pk)
        return response


def _unregisters(request):
    """``DELETE /api/devices/{token}/`` must not re-register the token it removes."""
    match = getattr(request, "resolver_match", None)
    return request.method == "DELETE" and match is not None and match.url_name == "device-detail"
