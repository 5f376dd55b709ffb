"""Admin for preferences (editable) and digests with their pending messages (read-only)."""

from django import forms
from django.contrib import admin

from chat.models import Membership
from chatproject.admin_ids import BoundedIdsAdmin

from .models import Digest, NotificationPreference, PendingNotification


class NotificationPreferenceForm(forms.ModelForm):
    class Meta:
        model = NotificationPreference
        fields = ["user", "push", "email", "email_delay_seconds", "muted_rooms"]

    def clean(self):
        cleaned = super().clean()
        user, rooms = cleaned.get("user"), cleaned.get("muted_rooms")
        if user is not None and rooms:
            member_of = set(
                Membership.objects.filter(user=user, room__in=rooms).values_list(
                    "room_id", flat=True
                )
            )
            strangers = [room.name for room in rooms if room.pk not in member_of]
            if strangers:
                self.add_error("muted_rooms", f"The user is not in: {', '.join(strangers)}.")
        return cleaned


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(BoundedIdsAdmin, admin.ModelAdmin):
    form = NotificationPreferenceForm
    list_display = ["user", "push", "email", "email_delay_seconds"]
    list_filter = ["push", "email"]
    search_fields = ["user__username", "user__email"]
    raw_id_fields = ["user"]
    filter_horizontal = ["muted_rooms"]


class PendingNotificationInline(admin.TabularInline):
    model = PendingNotification
    fields = ["message", "room", "seq", "sent_at", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Digest)
class DigestAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "status", "due_at", "sent_at", "message_count"]
    list_filter = ["status"]
    search_fields = ["user__username"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "user",
        "status",
        "due_at",
        "claimed_at",
        "sent_at",
        "message_count",
        "created_at",
    ]
    inlines = [PendingNotificationInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PendingNotification)
class PendingNotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "room", "seq", "digest", "sent_at", "created_at"]
    list_filter = ["sent_at"]
    search_fields = ["user__username"]
    list_select_related = ["user", "room", "digest"]
    readonly_fields = ["user", "message", "room", "seq", "digest", "sent_at", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
