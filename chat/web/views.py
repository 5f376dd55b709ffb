"""The browser page: login, logout, the chat page, its service worker and a people search.

The page itself is static HTML plus ``static/chat/app.js``; everything it shows
comes from the websocket and the REST API (docs/page.md). These views only hand
it its configuration and the small lookups the public API does not cover.
"""

import base64
import functools
import logging
import os

from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from chat import selectors
from chat.models import Membership
from chat.presence import online_user_ids

logger = logging.getLogger(__name__)

PEOPLE_LIMIT = 20


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """POST only (Django's rule): a link or an image cannot log anyone out."""


def push_public_key():
    """The VAPID public key for browser push, or "" when Web Push is not configured.

    Taken from a public-key setting when there is one, else derived from the
    private key the devices app signs with.
    """
    for name in ("PUSH_VAPID_PUBLIC_KEY", "PUSH_WEBPUSH_VAPID_PUBLIC_KEY", "VAPID_PUBLIC_KEY"):
        value = getattr(settings, name, "")
        if value:
            return value
    private = getattr(settings, "PUSH_VAPID_PRIVATE_KEY", "")
    return _public_key_of(private) if private else ""


@functools.lru_cache(maxsize=4)
def _public_key_of(private):
    try:
        from py_vapid import Vapid

        vapid = Vapid.from_file(private) if os.path.exists(private) else Vapid.from_string(private)
        point = vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    except Exception:
        logger.warning("PUSH_VAPID_PRIVATE_KEY cannot be read; browser push is off", exc_info=True)
        return ""
    return base64.urlsafe_b64encode(point).rstrip(b"=").decode("ascii")


@never_cache
@login_required
def chat_page(request):
    config = {
        "user": {"id": request.user.pk, "username": request.user.get_username()},
        "isModerator": selectors.is_moderator(request.user),
        "maxBody": settings.CHAT_MAX_BODY,
        "vapidPublicKey": push_public_key(),
        "adminUrl": "/admin/" if request.user.is_staff else "",
    }
    return render(request, "chat/page.html", {"config": config})


@require_GET
def service_worker(request):
    """``/sw.js``: served from the site root so that its scope covers the whole page."""
    path = finders.find("sw.js")
    if path is None:
        raise Http404("No service worker.")
    response = FileResponse(open(path, "rb"), content_type="text/javascript")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def people(request):
    """``/people/``: who the page can show.

    ``?q=<prefix>`` lists active users by username prefix (for starting a chat);
    ``?room=<id>`` lists the members of one of the user's rooms with their
    presence and read marker (the "Seen by" line); ``?ids=<id>,...`` tells
    which of those users who share a room with you are online. JSON for signed-in users
    only; ids and usernames are what any roommate already sees.
    """
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Authentication credentials were not provided."}, status=403)
    if "room" in request.GET:
        return _room_members(request)
    if "ids" in request.GET:
        return _roommates(request)
    query = request.GET.get("q", "").strip()
    if len(query) > 150 or "\x00" in query:
        return JsonResponse({"detail": "'q' must be at most 150 characters."}, status=400)
    users = get_user_model().objects.filter(is_active=True).exclude(pk=request.user.pk)
    if query:
        users = users.filter(username__istartswith=query)
    rows = users.order_by("username").values("id", "username")[:PEOPLE_LIMIT]
    return JsonResponse({"results": list(rows)})


def _roommates(request):
    """``?ids=1,2,3``: which of these users, among those sharing a room with you, are online."""
    raw = [part for part in request.GET["ids"].split(",") if part]
    if len(raw) > 200 or not all(part.isdigit() and len(part) < 19 for part in raw):
        return JsonResponse({"detail": "'ids' must be at most 200 user ids."}, status=400)
    shared = (
        Membership.objects.filter(
            user_id__in=[int(part) for part in raw],
            room__in=Membership.objects.filter(user=request.user).values("room_id"),
            user__is_active=True,
        )
        .values_list("user_id", "user__username")
        .distinct()
    )
    people = dict(shared)
    here = online_user_ids(people)
    rows = [
        {"id": uid, "username": name, "online": uid in here} for uid, name in sorted(people.items())
    ]
    return JsonResponse({"results": rows})


def _room_members(request):
    raw = request.GET["room"]
    if not raw.isdigit() or len(raw) > 18:
        return JsonResponse({"detail": "'room' must be a room id."}, status=400)
    room = selectors.member_room(request.user, int(raw))
    if room is None:
        return JsonResponse({"detail": "Not found."}, status=404)
    memberships = (
        Membership.objects.filter(room=room, user__is_active=True)
        .select_related("user")
        .order_by("user__username")
    )
    members = [(m.user, m.last_read_seq) for m in memberships]
    here = set(online_user_ids([user.pk for user, _ in members]))
    rows = [
        {
            "id": user.pk,
            "username": user.get_username(),
            "online": user.pk in here,
            "last_read_seq": last_read_seq,
        }
        for user, last_read_seq in members
    ]
    return JsonResponse({"results": rows})
