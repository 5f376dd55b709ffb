"""REST routes under /api/ (docs/rest.md)."""

urlpatterns = []
