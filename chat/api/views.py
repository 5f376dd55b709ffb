"""The REST half of ../shared/PROTOCOL.md, "REST: /api/" (docs/rest.md).

Views only parse, call the service the websocket consumer also calls, and
reply; so a REST send, edit, delete, read marker or membership change
publishes exactly the frames and signals its websocket twin does.
"""

import logging

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from chat import selectors, services
from chat.errors import NotMember
from chat.payloads import message_payload, user_payload
from chat.services import MAX_ID

from . import serializers as s
from .base import RETRY_AFTER, ChatAPIView, LoginThrottle, SendThrottle, errors, path_id

logger = logging.getLogger(__name__)


def parsed(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def room_for(user, room_id):
    membership = selectors.memberships_with_members(user, room_id).first()
    if membership is None:
        raise NotMember()
    return s.room_object(membership)


def _path(name, description):
    return OpenApiParameter(
        name,
        {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        OpenApiParameter.PATH,
        description=description,
    )


ROOM_ID = _path("room_id", "A room you are a member of.")
MESSAGE_ID = _path("message_id", "A message in one of your rooms.")
USER_ID = _path("user_id", "The member to remove (your own id to leave).")


class InvalidCredentials(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Unable to log in with the username and password given."
    default_code = "invalid_credentials"


class TokenLoginView(ChatAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    @extend_schema(
        operation_id="auth_token",
        summary="Get the API token for a username and password",
        description="Returns the same token until it is revoked. A deactivated user is refused.",
        request=s.TokenLoginSerializer,
        parameters=[RETRY_AFTER],
        responses={200: s.TokenSerializer, **errors(400, 413, 415, 429)},
        auth=[],
    )
    def post(self, request):
        data = parsed(s.TokenLoginSerializer, request.data)
        user = authenticate(request._request, username=data["username"], password=data["password"])
        # ModelBackend already refuses inactive users; other backends might not.
        if user is None or not user.is_active:
            raise InvalidCredentials()
        token, _ = Token.objects.get_or_create(user=user)
        logger.info("token issued to user %s", user.pk)
        return Response({"token": token.key})


class MeView(ChatAPIView):
    @extend_schema(
        summary="The authenticated user", responses={200: s.UserSerializer, **errors(401)}
    )
    def get(self, request):
        return Response(user_payload(request.user))


class RoomListView(ChatAPIView):
    @extend_schema(
        summary="Your rooms with their counters and members",
        responses={200: s.RoomSerializer(many=True), **errors(401)},
    )
    def get(self, request):
        memberships = selectors.memberships_with_members(request.user)
        return Response([s.room_object(m) for m in memberships])

    @extend_schema(
        summary="Create a group room; you are its owner and a member",
        request=s.RoomCreateSerializer,
        responses={201: s.RoomSerializer, **errors(400, 401, 403, 413, 415)},
    )
    def post(self, request):
        data = parsed(s.RoomCreateSerializer, request.data)
        room = services.room_create(
            owner=request.user, name=data["name"], member_ids=data["members"]
        )
        return Response(room_for(request.user, room.pk), status=status.HTTP_201_CREATED)


class DirectRoomView(ChatAPIView):
    @extend_schema(
        summary="The direct room of you and another user, created on first use",
        description="201 when this call created it, 200 when it already existed.",
        request=s.UserRefSerializer,
        responses={200: s.RoomSerializer, 201: s.RoomSerializer, **errors(400, 401, 403, 413, 415)},
    )
    def post(self, request):
        data = parsed(s.UserRefSerializer, request.data)
        room, created = services.room_direct(user=request.user, other_id=data["user"])
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(room_for(request.user, room.pk), status=code)


class RoomDetailView(ChatAPIView):
    @extend_schema(
        summary="One of your rooms",
        parameters=[ROOM_ID],
        responses={200: s.RoomSerializer, **errors(401, 404)},
    )
    def get(self, request, room_id):
        room_id = path_id(room_id, NotMember)
        return Response(room_for(request.user, room_id))


class RoomMembersView(ChatAPIView):
    @extend_schema(
        summary="The owner (or a moderator) adds a member",
        description="201 with the new member; 200 when the user already was one. "
        "The member's sockets get room.joined.",
        parameters=[ROOM_ID],
        request=s.UserRefSerializer,
        responses={
            200: s.UserSerializer,
            201: s.UserSerializer,
            **errors(400, 401, 403, 404, 413, 415),
        },
    )
    def post(self, request, room_id):
        room_id = path_id(room_id, NotMember)
        data = parsed(s.UserRefSerializer, request.data)
        membership, created = services.membership_add(
            actor=request.user, room_id=room_id, user_id=data["user"]
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(user_payload(membership.user), status=code)


class RoomMemberView(ChatAPIView):
    @extend_schema(
        summary="The owner (or a moderator) removes a member, or a member leaves",
        description="The removed member's sockets get room.left and no further events of it.",
        parameters=[ROOM_ID, USER_ID],
        responses={204: None, **errors(401, 403, 404)},
    )
    def delete(self, request, room_id, user_id):
        room_id = path_id(room_id, NotMember)
        user_id = path_id(user_id)
        services.membership_remove(actor=request.user, room_id=room_id, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoomMessagesView(ChatAPIView):
    throttle_classes = [SendThrottle]

    @extend_schema(
        summary="A page of the room's history, in ascending seq",
        description="Without before/after: the newest page. has_more tells whether older "
        "messages exist (newest page, before) or newer ones (after).",
        parameters=[
            ROOM_ID,
            OpenApiParameter(
                "before",
                {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                description="Only messages with a smaller seq (the page just before it).",
            ),
            OpenApiParameter(
                "after",
                {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                description="Only messages with a greater seq (the page just after it).",
            ),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                description="Page size.",
            ),
        ],
        responses={200: s.MessagePageSerializer, **errors(400, 401, 404)},
    )
    def get(self, request, room_id):
        room_id = path_id(room_id, NotMember)
        if selectors.membership_for(request.user, room_id) is None:
            raise NotMember()
        query = parsed(s.HistoryQuerySerializer, request.query_params)
        rows, has_more = selectors.messages_page(
            room_id, before=query.get("before"), after=query.get("after"), limit=query["limit"]
        )
        return Response({"results": [message_payload(m) for m in rows], "has_more": has_more})

    @extend_schema(
        summary="Send a message",
        description="201 with the new message. A client_id you already used in this room "
        "returns the stored message with 200 and sends nothing again.",
        parameters=[ROOM_ID, RETRY_AFTER],
        request=s.MessageSendSerializer,
        responses={
            200: s.MessageSerializer,
            201: s.MessageSerializer,
            **errors(400, 401, 403, 404, 413, 415, 429),
        },
    )
    def post(self, request, room_id):
        room_id = path_id(room_id, NotMember)
        data = parsed(s.MessageSendSerializer, request.data)
        message, created = services.message_send(
            user=request.user, room_id=room_id, body=data["body"], client_id=data["client_id"]
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(message_payload(message), status=code)


class RoomReadView(ChatAPIView):
    @extend_schema(
        summary="Move your read marker forward",
        description="The marker never moves back and stops at the newest message. "
        "Returns the room with its counters.",
        parameters=[ROOM_ID],
        request=s.ReadMarkerSerializer,
        responses={200: s.RoomSerializer, **errors(400, 401, 403, 404, 413, 415)},
    )
    def post(self, request, room_id):
        room_id = path_id(room_id, NotMember)
        data = parsed(s.ReadMarkerSerializer, request.data)
        services.message_read(user=request.user, room_id=room_id, seq=data["seq"])
        return Response(room_for(request.user, room_id))


class MessageView(ChatAPIView):
    @extend_schema(
        summary="The author edits a message",
        parameters=[MESSAGE_ID],
        request=s.MessageEditSerializer,
        responses={200: s.MessageSerializer, **errors(400, 401, 403, 404, 409, 413, 415)},
    )
    def patch(self, request, message_id):
        message_id = path_id(message_id)
        data = parsed(s.MessageEditSerializer, request.data)
        message = services.message_edit(user=request.user, message_id=message_id, body=data["body"])
        return Response(message_payload(message))

    @extend_schema(
        summary="The author or a moderator deletes a message",
        description="The message keeps its id and seq; body becomes empty and deleted true.",
        parameters=[MESSAGE_ID],
        responses={200: s.MessageSerializer, **errors(401, 403, 404)},
    )
    def delete(self, request, message_id):
        message_id = path_id(message_id)
        message = services.message_delete(user=request.user, message_id=message_id)
        return Response(message_payload(message))


class MessageReportView(ChatAPIView):
    @extend_schema(
        summary="Report a message to the moderators",
        description=(
            "Reporting the same message again while the report is open returns it, with 200."
        ),
        parameters=[MESSAGE_ID],
        request=s.ReportCreateSerializer,
        responses={
            201: s.ReportSerializer,
            200: s.ReportSerializer,
            **errors(400, 401, 403, 404, 413, 415),
        },
    )
    def post(self, request, message_id):
        message_id = path_id(message_id)
        data = parsed(s.ReportCreateSerializer, request.data)
        report, created = services.message_report(
            user=request.user, message_id=message_id, reason=data["reason"]
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.report_object(report), status=code)
