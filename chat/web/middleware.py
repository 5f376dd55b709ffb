"""Content Security Policy for every HTML page the site serves (docs/page.md).

No inline script anywhere: scripts come from this origin only, so a message
body that somehow reached the DOM as markup still could not run. The
websocket lives on the same host; ``connect-src`` names its ws:// and wss://
forms explicitly because older browsers do not count them as 'self'.
"""

from django.conf import settings
from django.core.exceptions import DisallowedHost


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" in response:
            return response
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        if any(request.path.startswith(p) for p in settings.CSP_EXEMPT_PATHS):
            return response
        try:
            host = request.get_host()
        except DisallowedHost:
            host = None
        sockets = f"ws://{host} wss://{host}" if host else ""
        policy = settings.CSP_POLICY.replace("{sockets}", sockets)
        response["Content-Security-Policy"] = policy
        return response
