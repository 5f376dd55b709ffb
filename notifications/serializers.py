"""The JSON shape of ``/api/me/notifications/`` (docs/notifications.md, "API").

Types are strict: ``"push": "yes"`` or ``"email_delay_seconds": "60"`` are
400s, not coerced, so that a client's bug shows up at once.
"""

from rest_framework import serializers

from .models import EMAIL_DELAY_MAX

# The largest id a database column holds; a larger one would fail in the query.
MAX_ID = 2**63 - 1


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "A JSON integer is required."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class NotificationPreferenceSerializer(serializers.Serializer):
    """Every field is in every response; a PATCH (``partial=True``) may carry any of them."""

    push = StrictBooleanField()
    email = StrictBooleanField()
    email_delay_seconds = StrictIntegerField(min_value=0, max_value=EMAIL_DELAY_MAX)
    muted_rooms = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=MAX_ID), max_length=10_000
    )

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)
