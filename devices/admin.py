"""Support's view of devices: find a user's devices, send a test push, deactivate."""

from django.contrib import admin, messages

from chatproject.admin_ids import BoundedIdsAdmin

from . import services
from .models import Device, PushDelivery


@admin.register(Device)
class DeviceAdmin(BoundedIdsAdmin, admin.ModelAdmin):
    list_display = ["id", "user", "platform", "short_token", "active", "last_seen_at", "created_at"]
    list_filter = ["platform", "active"]
    search_fields = ["user__username", "user__email", "device_id", "=token"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = ["created_at", "last_seen_at", "deactivated_reason"]
    actions = ["send_test_push", "deactivate"]

    @admin.display(description="token")
    def short_token(self, device):
        return f"{device.token[:12]}…" if len(device.token) > 12 else device.token

    @admin.action(description="Send a test push")
    def send_test_push(self, request, queryset):
        count = services.device_push_test(device_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Test push queued for {count} device(s).", messages.SUCCESS)

    @admin.action(description="Deactivate (stop pushing to them)")
    def deactivate(self, request, queryset):
        count = sum(
            services.device_deactivate(
                device_id=pk, reason=f"deactivated by admin user {request.user.pk}"
            )
            for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(request, f"{count} device(s) deactivated.", messages.SUCCESS)


@admin.register(PushDelivery)
class PushDeliveryAdmin(admin.ModelAdmin):
    """Read-only: what was pushed where, for support questions."""

    list_display = ["key", "device", "kind", "state", "attempts", "error", "created_at", "sent_at"]
    list_filter = ["kind", "state"]
    search_fields = ["key", "device__user__username"]
    list_select_related = ["device"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
