"""REST routes under /api/ (docs/rest.md)."""

from django.urls import path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views
from .base import PathSegmentConverter

register_converter(PathSegmentConverter, "api_segment")

urlpatterns = [
    path("auth/token/", views.TokenLoginView.as_view(), name="api-token"),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("rooms/", views.RoomListView.as_view(), name="api-rooms"),
    path("rooms/direct/", views.DirectRoomView.as_view(), name="api-room-direct"),
    path("rooms/<api_segment:room_id>/", views.RoomDetailView.as_view(), name="api-room"),
    path(
        "rooms/<api_segment:room_id>/members/",
        views.RoomMembersView.as_view(),
        name="api-room-members",
    ),
    path(
        "rooms/<api_segment:room_id>/members/<api_segment:user_id>/",
        views.RoomMemberView.as_view(),
        name="api-room-member",
    ),
    path(
        "rooms/<api_segment:room_id>/messages/",
        views.RoomMessagesView.as_view(),
        name="api-room-messages",
    ),
    path("rooms/<api_segment:room_id>/read/", views.RoomReadView.as_view(), name="api-room-read"),
    path("messages/<api_segment:message_id>/", views.MessageView.as_view(), name="api-message"),
    path(
        "messages/<api_segment:message_id>/report/",
        views.MessageReportView.as_view(),
        name="api-message-report",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
