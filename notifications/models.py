"""Each user's notification preferences: the one source of truth for push and email."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

EMAIL_DELAY_MAX = 86400


class NotificationPreference(models.Model):
    """A missing row means the defaults below."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    push = models.BooleanField(default=True)
    email = models.BooleanField(default=True)
    email_delay_seconds = models.PositiveIntegerField(
        default=120, validators=[MinValueValidator(0), MaxValueValidator(EMAIL_DELAY_MAX)]
    )
    muted_rooms = models.ManyToManyField("chat.Room", blank=True, related_name="+")

    def __str__(self):
        return f"notification preferences of user {self.user_id}"


class Digest(models.Model):
    """One user's batch window of missed messages, and the email that closes it.

    The first pending message opens a digest with ``due_at`` = now + the
    user's delay; later messages join it while it is open. The task that runs
    at ``due_at`` claims it (open -> sending) under a row lock, sends outside
    any transaction, then marks it sent. A digest that is not open is never
    sent again, which is what makes a repeated task harmless.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open (collecting messages)"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        EMPTY = "empty", "Nothing left to send"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_digests"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    due_at = models.DateTimeField(db_index=True)
    # Who claimed it and when: only that claim may mark it sent, and a claim
    # older than NOTIFICATIONS_STALE_SENDING_SECONDS belonged to a dead worker.
    claim = models.CharField(max_length=32, blank=True, editable=False)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(status="open"), name="digest_one_open_per_user"
            )
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="digest_status_due")]

    def __str__(self):
        return f"digest {self.pk} of user {self.user_id} ({self.status})"


class PendingNotification(models.Model):
    """A message that a user missed and may get by email; one per (user, message)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pending_notifications"
    )
    message = models.ForeignKey("chat.Message", on_delete=models.CASCADE, related_name="+")
    # Copied from the message so that a read marker drops rows by (user, room, seq).
    room = models.ForeignKey("chat.Room", on_delete=models.CASCADE, related_name="+")
    seq = models.PositiveBigIntegerField()
    digest = models.ForeignKey(Digest, on_delete=models.CASCADE, related_name="items")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["room_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["user", "message"], name="pending_unique_user_message")
        ]
        indexes = [models.Index(fields=["user", "room", "seq"], name="pending_user_room_seq")]

    def __str__(self):
        return f"message {self.message_id} for user {self.user_id}"


class PendedMessage(models.Model):
    """A message whose missed-message rows were recorded (none, possibly).

    Written in the same transaction as the ``PendingNotification`` rows, so
    it says durably that the message was handled: running the pend again
    does nothing, and the sweep pends only recent messages without one.
    Kept for ``NOTIFICATIONS_PEND_WINDOW_SECONDS``, the sweep's reach.
    """

    message = models.OneToOneField(
        "chat.Message", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    pended_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self):
        return f"message {self.message_id} pended"
