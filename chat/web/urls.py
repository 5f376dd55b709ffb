"""The browser page and its login/logout routes."""

urlpatterns = []
