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
