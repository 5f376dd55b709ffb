from django.urls import include, path

urlpatterns = [
    path("api/", include("chat.api.urls")),
    path("", include("chat.web.urls")),
]
