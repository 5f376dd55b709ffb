"""URL routes. Each app owns its own; see chat/urls.py, devices/urls.py, notifications/urls.py."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("chat.urls")),
    path("", include("devices.urls")),
    path("", include("notifications.urls")),
    path("", include("ops.urls")),
]
