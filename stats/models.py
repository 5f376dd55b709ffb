"""Per-day usage counts (docs/deployment.md, "Usage statistics").

A ``DailyUsage`` row is always recomputed whole from the database, never
incremented, so running its task twice, late or concurrently gives the same
row. ``ActiveUser`` remembers who came online on a day, which messages alone
cannot tell (a user may read without writing).
"""

from django.conf import settings
from django.db import models


class DailyUsage(models.Model):
    day = models.DateField(unique=True, help_text="A UTC day.")
    messages = models.PositiveIntegerField(default=0, help_text="Messages stored that day.")
    active_users = models.PositiveIntegerField(
        default=0, help_text="Users who sent a message or came online that day."
    )
    active_rooms = models.PositiveIntegerField(
        default=0, help_text="Rooms that received a message that day."
    )
    new_devices = models.JSONField(
        default=dict, blank=True, help_text="Push devices first registered that day, by platform."
    )
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day"]
        verbose_name_plural = "daily usage"

    def __str__(self):
        return f"usage of {self.day}"


class ActiveUser(models.Model):
    day = models.DateField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "user"], name="stats_active_user_once_a_day")
        ]

    def __str__(self):
        return f"user {self.user_id} active on {self.day}"
