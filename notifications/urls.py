from django.urls import path

from . import views

urlpatterns = [
    path(
        "api/me/notifications/",
        views.NotificationPreferenceView.as_view(),
        name="notifications-api-preferences",
    ),
    path("notifications/settings/", views.preferences_page, name="notifications-preferences"),
    path(
        "notifications/unsubscribe/<str:token>/",
        views.unsubscribe,
        name="notifications-unsubscribe",
    ),
]
