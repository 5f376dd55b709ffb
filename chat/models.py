"""Rooms, memberships, messages, reports and presence.

The invariants that clients rely on are enforced by the database, not only by
code: ``(room, seq)`` and ``(author, room, client_id)`` are unique. How ``seq``
stays gapless is explained in ``chat.services.message_send``.
"""

from django.conf import settings
from django.db import models


class Room(models.Model):
    class Kind(models.TextChoices):
        GROUP = "group", "Group"
        DIRECT = "direct", "Direct"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.GROUP)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_rooms",
    )
    # The seq of the newest message; incremented under the row lock that
    # message_send takes, so it doubles as the room's sequence allocator.
    last_seq = models.PositiveBigIntegerField(default=0, editable=False)
    # "<smaller user id>:<larger user id>" for direct rooms, so that the
    # database itself guarantees one direct room per pair.
    direct_key = models.CharField(max_length=50, null=True, blank=True, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="chat_rooms"
    )

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    last_read_seq = models.PositiveBigIntegerField(default=0)
    # Set by a moderator: the member still reads the room but cannot send.
    muted = models.BooleanField(default=False)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "room"], name="membership_unique_user_room")
        ]

    def __str__(self):
        return f"{self.user_id} in {self.room_id}"


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveBigIntegerField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="chat_messages"
    )
    body = models.TextField()
    client_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Also the index behind history pages and resume: (room, seq).
            models.UniqueConstraint(fields=["room", "seq"], name="message_unique_room_seq"),
            models.UniqueConstraint(
                fields=["author", "room", "client_id"], name="message_unique_client_id"
            ),
        ]

    def __str__(self):
        return f"{self.room_id}#{self.seq}"

    @property
    def deleted(self):
        return self.deleted_at is not None


class Report(models.Model):
    """A member's report of a message, queued for moderators."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_reports"
    )
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="resolved_chat_reports",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"report {self.pk} on message {self.message_id}"


class PresenceNode(models.Model):
    """A daphne process that holds sockets; alive while its heartbeat is fresh."""

    name = models.CharField(max_length=100, primary_key=True)
    heartbeat_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return self.name


class Presence(models.Model):
    """How many sockets a user has open on one node."""

    node = models.ForeignKey(PresenceNode, on_delete=models.CASCADE, related_name="presences")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_presences"
    )
    sockets = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["node", "user"], name="presence_unique_node_user")
        ]

    def __str__(self):
        return f"user {self.user_id}: {self.sockets} sockets on {self.node_id}"


class ModerationAction(models.Model):
    """The audit log: who did what to whom, and when. Written by the services."""

    class Action(models.TextChoices):
        DELETE_MESSAGE = "delete_message", "Deleted a message"
        RESOLVE_REPORT = "resolve_report", "Resolved a report"
        MUTE = "mute", "Muted a member"
        UNMUTE = "unmute", "Unmuted a member"
        DEACTIVATE = "deactivate", "Deactivated a user"
        ADD_MEMBER = "add_member", "Added a member"
        REMOVE_MEMBER = "remove_member", "Removed a member"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="moderation_actions",
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="moderation_targeted",
    )
    room = models.ForeignKey(Room, null=True, blank=True, on_delete=models.SET_NULL)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL)
    detail = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        # Granted to the moderator group (chat/migrations/0002): deactivation
        # without the right to edit users, which would allow making superusers.
        permissions = [("deactivate_user", "Can deactivate users")]

    def __str__(self):
        return f"{self.actor_id} {self.action} at {self.created_at:%Y-%m-%d %H:%M}"
