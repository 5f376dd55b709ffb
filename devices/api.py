"""REST endpoints of the device registry: ``/api/devices/`` (PROTOCOL.md, REST; docs/push.md).

They share the chat API's base view: JSON only, bounded bodies, the same
error shapes.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from chat.api.base import ChatAPIView, errors

from . import selectors, services
from .models import Device


class DeviceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Device
        fields = ["id", "platform", "token", "device_id", "app_id", "created_at", "last_seen_at"]
        read_only_fields = fields


class DeviceRegisterSerializer(serializers.Serializer):
    platform = serializers.ChoiceField(choices=Device.Platform.choices)
    token = serializers.CharField(max_length=services.TOKEN_MAX, trim_whitespace=True)
    device_id = serializers.CharField(max_length=255, required=False, allow_blank=True)
    app_id = serializers.CharField(max_length=255, required=False, allow_blank=True)


class DeviceListView(ChatAPIView):
    @extend_schema(
        summary="The user's active devices",
        responses={200: DeviceSerializer(many=True), **errors(401)},
    )
    def get(self, request):
        return Response(DeviceSerializer(selectors.devices_of_user(request.user), many=True).data)

    @extend_schema(
        summary="Register a device for push notifications (idempotent)",
        request=DeviceRegisterSerializer,
        responses={
            200: DeviceSerializer,
            201: DeviceSerializer,
            **errors(400, 401, 403, 413, 415),
        },
    )
    def post(self, request):
        """Register a device; 201 when it is new to this user, 200 when it was already theirs."""
        given = DeviceRegisterSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            device, created = services.device_register(user=request.user, **given.validated_data)
        except services.InvalidDevice as exc:
            raise ValidationError({exc.field: [exc.detail]}) from None
        return Response(
            DeviceSerializer(device).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class DeviceDetailView(ChatAPIView):
    @extend_schema(
        summary="Unregister one of the user's devices",
        responses={204: None, **errors(401, 403, 404)},
    )
    def delete(self, request, token):
        """Unregister one of the user's devices (also on logout)."""
        if not services.device_unregister(user=request.user, token=token):
            raise NotFound("You have no device with that token.")
        return Response(status=status.HTTP_204_NO_CONTENT)
