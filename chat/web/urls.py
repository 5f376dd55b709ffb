"""The browser page and its login/logout routes (docs/page.md)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.chat_page, name="chat-page"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("sw.js", views.service_worker, name="service-worker"),
    path("people/", views.people, name="people"),
]
