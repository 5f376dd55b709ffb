"""Usage statistics in the admin: read-only, with an action to recount chosen days now."""

from django.contrib import admin

from . import services
from .models import DailyUsage


@admin.register(DailyUsage)
class DailyUsageAdmin(admin.ModelAdmin):
    list_display = ("day", "messages", "active_users", "active_rooms", "devices", "computed_at")
    date_hierarchy = "day"
    actions = ["recount"]

    @admin.display(description="new devices by platform")
    def devices(self, obj):
        return ", ".join(f"{k}: {v}" for k, v in sorted(obj.new_devices.items())) or "none"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Recount the selected days now")
    def recount(self, request, queryset):
        for row in queryset:
            services.usage_recompute(day=row.day)
        self.message_user(request, f"Recounted {queryset.count()} days.")
