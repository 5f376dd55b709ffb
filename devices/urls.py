"""Device routes, included at the site root."""

from django.urls import path

from . import api

urlpatterns = [
    path("api/devices/", api.DeviceListView.as_view(), name="device-list"),
    # ``path``: a web subscription token is JSON with slashes in its endpoint.
    path("api/devices/<path:token>/", api.DeviceDetailView.as_view(), name="device-detail"),
]
