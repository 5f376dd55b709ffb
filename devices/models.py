"""Registered push devices and the per-device delivery ledger (docs/push.md)."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Device(models.Model):
    """A phone or browser that can receive pushes for one user.

    ``token`` is the provider's address of the app instance (an FCM
    registration token, an APNs device token, or a Web Push subscription as
    canonical JSON). It is unique: a token belongs to whoever registered it
    last, so one phone never shows another account's messages.
    """

    class Platform(models.TextChoices):
        ANDROID = "android", "Android"
        IOS = "ios", "iOS"
        WEB = "web", "Web"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_devices"
    )
    platform = models.CharField(max_length=10, choices=Platform.choices)
    token = models.CharField(max_length=2048, unique=True)
    # The hardware or installation id the app reports, when it has one; a new
    # token with the same id replaces the old one (tokens rotate).
    device_id = models.CharField(max_length=255, blank=True, default="")
    # The app the token belongs to (the APNs topic / bundle id), when the
    # deployment serves more than one app.
    app_id = models.CharField(max_length=255, blank=True, default="")
    active = models.BooleanField(default=True)
    deactivated_reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["user", "active"], name="device_user_active")]
        ordering = ["-last_seen_at"]

    def __str__(self):
        return f"{self.platform} device {self.pk} of user {self.user_id}"


class PushDelivery(models.Model):
    """One push to one device, claimed before the provider call and marked after it.

    The unique ``(device, key)`` pair is what makes a redelivered task send
    nothing twice: a row that is ``sent`` is skipped, and a row left
    ``sending`` by a killed worker is sent again once its lease has expired
    (the single request that may have been in flight; docs/push.md).
    """

    class Kind(models.TextChoices):
        MESSAGE = "message", "New message"
        CLEAR = "clear", "Clear notifications"
        TEST = "test", "Test push"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # "message:<message id>", "clear:<room id>:<seq>" or "test:<nonce>".
    key = models.CharField(max_length=80)
    room = models.ForeignKey("chat.Room", null=True, blank=True, on_delete=models.CASCADE)
    seq = models.PositiveBigIntegerField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # While set and in the future, the row is being sent by a live worker.
    lease_until = models.DateTimeField(null=True, blank=True)
    # When the retry of the task that deferred this push is due; the sweep
    # leaves a pending row to that retry until then (docs/push.md, "The sweep").
    retry_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device", "key"], name="push_delivery_unique_device_key"
            )
        ]
        indexes = [
            models.Index(fields=["room", "seq"], name="push_delivery_room_seq"),
            # Every push task reads its rows by key (one key, many devices);
            # the unique (device, key) index cannot serve that.
            models.Index(fields=["key"], name="push_delivery_key"),
            # The sweep's search for abandoned pushes: open rows are few, so a
            # partial index keeps it small whatever the history kept.
            models.Index(
                fields=["created_at"],
                name="push_delivery_open",
                condition=Q(state__in=["pending", "sending"]),
            ),
        ]
        verbose_name_plural = "push deliveries"

    def __str__(self):
        return f"{self.key} to device {self.device_id}: {self.state}"


class PushDecision(models.Model):
    """The push task has run for this message (docs/push.md, "The sweep").

    Written by the worker at the end of every run of the message's push task,
    whatever it decided (nobody to push, all sent, some deferred): from then
    on, every push the message still owes is an open ``PushDelivery`` row,
    which the sweep watches. A recent message in a room with devices and no
    decision lost its task before it ran, and the sweep enqueues it again.
    Rows are only needed while their message is inside the sweep's window;
    the hourly prune deletes older ones.
    """

    # The message's id; not a foreign key, so that a message deleted with its
    # room never blocks or cascades into this bookkeeping.
    message_id = models.BigIntegerField(primary_key=True)
    decided_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self):
        return f"push of message {self.message_id} decided at {self.decided_at:%Y-%m-%d %H:%M:%S}"
