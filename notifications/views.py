"""Preferences over REST and in the browser, and the signed unsubscribe link.

``GET/PATCH /api/me/notifications/`` is specified in docs/protocol.md (REST);
the email side is described in docs/notifications.md.
"""

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import extend_schema
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from . import emails, selectors, services
from .forms import PreferenceForm
from .serializers import NotificationPreferenceSerializer

logger = logging.getLogger(__name__)

FIELD_ARGS = {"muted_rooms": "muted_room_ids"}


class NotificationPreferenceView(APIView):
    """The caller's notification preferences: one source for push and email."""

    parser_classes = [JSONParser]

    @extend_schema(responses=NotificationPreferenceSerializer)
    def get(self, request):
        return Response(selectors.preference_for(request.user))

    @extend_schema(
        request=NotificationPreferenceSerializer, responses=NotificationPreferenceSerializer
    )
    def patch(self, request):
        serializer = NotificationPreferenceSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = {FIELD_ARGS.get(k, k): v for k, v in serializer.validated_data.items()}
        try:
            services.preference_update(user=request.user, **changes)
        except ValidationError as exc:
            return Response(exc.message_dict, status=400)
        return Response(selectors.preference_for(request.user))


@login_required
@require_http_methods(["GET", "POST"])
def preferences_page(request):
    current = selectors.preference_for(request.user)
    saved = False
    if request.method == "POST":
        form = PreferenceForm(request.POST, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.preference_update(
                    user=request.user,
                    push=data["push"],
                    email=data["email"],
                    email_delay_seconds=data["email_delay_seconds"],
                    muted_room_ids=data["muted_rooms"],
                )
                saved = True
            except ValidationError as exc:
                form.add_error(None, exc)
    else:
        form = PreferenceForm(initial=current, user=request.user)
    status = 400 if request.method == "POST" and not saved else 200
    return render(
        request, "notifications/preferences.html", {"form": form, "saved": saved}, status=status
    )


# The token is the credential, and mail clients' one-click POSTs (RFC 8058)
# carry no CSRF token, so this view cannot ask for one.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token):
    user_id = emails.unsubscribe_user_id(token)
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    if user is None:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=400)
    done = False
    if request.method == "POST":
        services.email_unsubscribe(user=user)
        logger.info("user %s unsubscribed from email by link", user.pk)
        done = True
    return render(
        request, "notifications/unsubscribe.html", {"username": user.get_username(), "done": done}
    )
