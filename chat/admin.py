"""Moderation in the Django admin (docs/page.md, "Moderation").

Every change a moderator makes here goes through ``chat.services``, the same
functions the websocket and the REST API call, so live clients see it at once
(``message.updated``, ``room.joined``/``room.left``, closed sockets) and the
services write the audit log. Nothing here saves a chat row directly except
a room's name.

Moderators are staff users in the ``CHAT_MODERATOR_GROUP`` group; its
permissions are set by migration ``chat/migrations/0002_moderators_group.py``.
"""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from chatproject.admin_ids import BoundedIdsAdmin

from . import services
from .errors import ChatError
from .models import Membership, Message, ModerationAction, Report, Room

User = get_user_model()


def _excerpt(text, words=14):
    return Truncator(text).words(words, truncate=" …")


def _report_errors(modeladmin, request, done, failures, verb):
    if done:
        modeladmin.message_user(request, f"{verb} {done}.", messages.SUCCESS)
    for what, error in failures:
        modeladmin.message_user(request, f"{what}: {error.detail}", messages.ERROR)


# --- messages ---------------------------------------------------------------


class DeletedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("visible", "Visible"), ("deleted", "Deleted")]

    def queryset(self, request, queryset):
        if self.value() == "visible":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "deleted":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "room", "seq", "author", "excerpt", "open_reports", "is_deleted"]
    list_display_links = ["created_at"]
    list_filter = [
        DeletedFilter,
        "room",
        ("author", admin.RelatedOnlyFieldListFilter),
        "created_at",
    ]
    search_fields = ["body"]
    date_hierarchy = "created_at"
    list_select_related = ["room", "author"]
    ordering = ["-created_at"]
    actions = ["delete_messages"]
    readonly_fields = [
        "room",
        "seq",
        "author",
        "body",
        "client_id",
        "created_at",
        "edited_at",
        "deleted_at",
    ]
    fields = readonly_fields
    show_full_result_count = False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(open_report_count=Count("reports", filter=Q(reports__resolved_at=None)))
        )

    @admin.display(description="message")
    def excerpt(self, obj):
        return "(deleted)" if obj.deleted else _excerpt(obj.body)

    @admin.display(description="open reports", ordering="open_report_count")
    def open_reports(self, obj):
        return obj.open_report_count or ""

    @admin.display(description="deleted", boolean=True)
    def is_deleted(self, obj):
        return obj.deleted

    # Messages are written by their authors only; here they are read and deleted.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # A hard delete would leave a hole in the room's seq; the action soft-deletes.
        return False

    @admin.action(
        description="Delete selected messages (members see it at once)", permissions=["change"]
    )
    def delete_messages(self, request, queryset):
        done, failures = 0, []
        for message in queryset.filter(deleted_at__isnull=True):
            try:
                services.message_delete(user=request.user, message_id=message.pk)
                done += 1
            except ChatError as error:
                failures.append((f"Message {message.pk}", error))
        _report_errors(self, request, done, failures, "Deleted messages:")


# --- reports ----------------------------------------------------------------


class ReportStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("resolved", "Resolved"), ("all", "All")]

    def choices(self, changelist):
        # "Open" is the default view: the queue a moderator works through.
        value = self.value() or "open"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or "open"
        if value == "open":
            return queryset.filter(resolved_at__isnull=True)
        if value == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "message_excerpt",
        "message_author",
        "room",
        "reporter",
        "reason",
        "resolution",
    ]
    list_filter = [ReportStateFilter, "created_at"]
    search_fields = ["reason", "message__body"]
    list_select_related = ["message__author", "message__room", "reporter", "resolved_by"]
    actions = ["resolve", "delete_and_resolve"]
    readonly_fields = [
        "message_link",
        "message_author",
        "room",
        "message_body",
        "reporter",
        "reason",
        "created_at",
        "resolved_at",
        "resolved_by",
    ]
    fields = readonly_fields

    @admin.display(description="message")
    def message_excerpt(self, obj):
        return "(deleted)" if obj.message.deleted else _excerpt(obj.message.body, 10)

    @admin.display(description="resolved", ordering="resolved_at")
    def resolution(self, obj):
        if obj.resolved_at is None:
            return "open"
        return f"by {obj.resolved_by or 'a deleted user'}, {obj.resolved_at:%Y-%m-%d %H:%M}"

    @admin.display(description="message")
    def message_link(self, obj):
        url = reverse("admin:chat_message_change", args=[obj.message_id])
        return format_html('<a href="{}">{}</a>', url, obj.message)

    @admin.display(description="body")
    def message_body(self, obj):
        return "(deleted)" if obj.message.deleted else obj.message.body

    @admin.display(description="author", ordering="message__author__username")
    def message_author(self, obj):
        return obj.message.author

    @admin.display(description="room", ordering="message__room__name")
    def room(self, obj):
        return obj.message.room

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _resolve(self, request, queryset, *, delete_message):
        done, failures = 0, []
        # One resolution per message: resolving closes every open report on it.
        seen = set()
        for report in queryset.filter(resolved_at__isnull=True).select_related("message"):
            if report.message_id in seen:
                continue
            seen.add(report.message_id)
            try:
                services.report_resolve(
                    actor=request.user, report=report, delete_message=delete_message
                )
                done += 1
            except ChatError as error:
                failures.append((f"Report {report.pk}", error))
        return done, failures

    @admin.action(
        description="Resolve selected reports (keep the messages)", permissions=["change"]
    )
    def resolve(self, request, queryset):
        done, failures = self._resolve(request, queryset, delete_message=False)
        _report_errors(self, request, done, failures, "Resolved reports:")

    @admin.action(description="Delete the reported messages and resolve", permissions=["change"])
    def delete_and_resolve(self, request, queryset):
        done, failures = self._resolve(request, queryset, delete_message=True)
        _report_errors(self, request, done, failures, "Deleted and resolved:")


# --- rooms and memberships ----------------------------------------------------


class MembershipInline(BoundedIdsAdmin, admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "muted", "last_read_seq", "joined_at"]
    readonly_fields = ["role", "last_read_seq", "joined_at"]
    raw_id_fields = ["user"]


class MembershipChanges:
    """Applies membership edits through the services so that sockets hear of them."""

    @staticmethod
    def add(request, room, user_id, muted=False):
        services.membership_add(actor=request.user, room_id=room.pk, user_id=user_id)
        if muted:
            services.membership_mute(
                actor=request.user, room_id=room.pk, user_id=user_id, muted=True
            )

    @staticmethod
    def set_muted(request, membership, muted):
        services.membership_mute(
            actor=request.user, room_id=membership.room_id, user_id=membership.user_id, muted=muted
        )

    @staticmethod
    def remove(request, membership):
        services.membership_remove(
            actor=request.user, room_id=membership.room_id, user_id=membership.user_id
        )


@admin.register(Room)
class RoomAdmin(BoundedIdsAdmin, admin.ModelAdmin):
    list_display = ["name", "kind", "owner", "member_count", "last_seq", "created_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["name", "owner__username"]
    list_select_related = ["owner"]
    inlines = [MembershipInline]
    raw_id_fields = ["owner"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_total=Count("memberships"))

    @admin.display(description="members", ordering="member_total")
    def member_count(self, obj):
        return obj.member_total

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ["last_seq"]
        # Ownership and kind follow from the memberships; only the name is edited here.
        return ["kind", "owner", "last_seq", "created_at"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "owner"]
        return ["name", "kind", "owner", "last_seq", "created_at"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None and "owner" in form.base_fields:
            form.base_fields["owner"].required = True
            form.base_fields["owner"].help_text = "Becomes the room's first member and owner."
        return form

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        room = services.room_create(owner=form.cleaned_data["owner"], name=obj.name)
        obj.pk = room.pk
        obj.refresh_from_db()
        obj._state.adding = False

    def save_formset(self, request, form, formset, change):
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        room = form.instance
        failures = []
        for inline_form in formset.forms:
            if not inline_form.has_changed() and not formset._should_delete_form(inline_form):
                continue
            membership = inline_form.instance
            try:
                if formset._should_delete_form(inline_form):
                    if membership.pk:
                        MembershipChanges.remove(request, membership)
                elif membership.pk is None:
                    user = inline_form.cleaned_data.get("user")
                    if user is not None:
                        MembershipChanges.add(
                            request, room, user.pk, inline_form.cleaned_data.get("muted", False)
                        )
                elif "user" in inline_form.changed_data:
                    # Another user on an existing row: the old one leaves, the new one joins.
                    old = Membership.objects.get(pk=membership.pk)
                    MembershipChanges.remove(request, old)
                    MembershipChanges.add(
                        request,
                        room,
                        inline_form.cleaned_data["user"].pk,
                        inline_form.cleaned_data.get("muted", False),
                    )
                elif "muted" in inline_form.changed_data:
                    MembershipChanges.set_muted(
                        request, membership, inline_form.cleaned_data["muted"]
                    )
            except ChatError as error:
                failures.append((f"Member {inline_form.cleaned_data.get('user')}", error))
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        _report_errors(self, request, 0, failures, "")

    def delete_model(self, request, obj):
        # Tell the members first: after the delete there is nobody to tell.
        for membership in list(obj.memberships.all()):
            try:
                MembershipChanges.remove(request, membership)
            except ChatError:
                pass
        obj.delete()

    def delete_queryset(self, request, queryset):
        for room in queryset:
            self.delete_model(request, room)


@admin.register(Membership)
class MembershipAdmin(BoundedIdsAdmin, admin.ModelAdmin):
    list_display = ["user", "room", "role", "muted", "last_read_seq", "joined_at"]
    list_filter = ["muted", "role", "room"]
    search_fields = ["user__username", "room__name"]
    list_select_related = ["user", "room"]
    raw_id_fields = ["user", "room"]
    actions = ["mute", "unmute", "remove"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["room", "user", "muted"]
        return ["room", "user", "role", "muted", "last_read_seq", "joined_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["room", "user", "role", "last_read_seq", "joined_at"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        # "remove" replaces the bulk delete, which would skip the room.left frames.
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        try:
            if change:
                if "muted" in form.changed_data:
                    MembershipChanges.set_muted(request, obj, obj.muted)
                return
            MembershipChanges.add(request, obj.room, obj.user_id, obj.muted)
        except ChatError as error:
            self.message_user(request, error.detail, messages.ERROR)
            return
        if not change:
            saved = Membership.objects.get(room=obj.room, user_id=obj.user_id)
            obj.pk = saved.pk
            obj.refresh_from_db()
            obj._state.adding = False

    def delete_model(self, request, obj):
        try:
            MembershipChanges.remove(request, obj)
        except ChatError as error:
            self.message_user(request, error.detail, messages.ERROR)

    def delete_queryset(self, request, queryset):
        for membership in queryset:
            self.delete_model(request, membership)

    def _set_muted(self, request, queryset, muted):
        done, failures = 0, []
        for membership in queryset.select_related("user", "room"):
            try:
                MembershipChanges.set_muted(request, membership, muted)
                done += 1
            except ChatError as error:
                failures.append((str(membership), error))
        verb = "Muted members:" if muted else "Unmuted members:"
        _report_errors(self, request, done, failures, verb)

    @admin.action(description="Mute in the room (their sends are refused)", permissions=["change"])
    def mute(self, request, queryset):
        self._set_muted(request, queryset, True)

    @admin.action(description="Unmute in the room", permissions=["change"])
    def unmute(self, request, queryset):
        self._set_muted(request, queryset, False)

    @admin.action(description="Remove from the room", permissions=["delete"])
    def remove(self, request, queryset):
        done, failures = 0, []
        for membership in queryset.select_related("user", "room"):
            try:
                MembershipChanges.remove(request, membership)
                done += 1
            except ChatError as error:
                failures.append((str(membership), error))
        _report_errors(self, request, done, failures, "Removed members:")


# --- the audit log ---------------------------------------------------------------


@admin.register(ModerationAction)
class ModerationActionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "target_user", "room", "message", "detail"]
    list_filter = ["action", ("actor", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["actor__username", "target_user__username", "detail"]
    list_select_related = ["actor", "target_user", "room", "message"]
    date_hierarchy = "created_at"

    # The log is written by the services only, and never rewritten.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- users -------------------------------------------------------------------------


class ChatUserAdmin(UserAdmin):
    """Django's user admin plus deactivation that closes the user's sockets."""

    actions = [*UserAdmin.actions, "deactivate"]
    list_display = [*UserAdmin.list_display, "is_active", "last_login"]

    def has_deactivate_permission(self, request):
        return request.user.has_perm("chat.deactivate_user")

    def save_model(self, request, obj, form, change):
        # Unticking "Active" on the form is a deactivation too: let the service
        # flip it, so that the user's sockets close and the audit log says so.
        deactivating = change and "is_active" in form.changed_data and not obj.is_active
        if deactivating:
            obj.is_active = True
        super().save_model(request, obj, form, change)
        if deactivating:
            services.user_deactivate(actor=request.user, user=obj)

    @admin.action(
        description="Deactivate (sign out everywhere, close their sockets)",
        permissions=["deactivate"],
    )
    def deactivate(self, request, queryset):
        done, failures = 0, []
        for user in queryset.filter(is_active=True):
            if user.pk == request.user.pk:
                self.message_user(request, "You cannot deactivate yourself.", messages.ERROR)
                continue
            if user.is_superuser and not request.user.is_superuser:
                self.message_user(
                    request, f"Only a superuser may deactivate {user}.", messages.ERROR
                )
                continue
            try:
                services.user_deactivate(actor=request.user, user=user)
                done += 1
            except ChatError as error:
                failures.append((str(user), error))
        _report_errors(self, request, done, failures, "Deactivated users:")


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, ChatUserAdmin)

admin.site.site_header = "Chat moderation"
admin.site.site_title = "Chat moderation"
admin.site.index_title = "Moderation"
