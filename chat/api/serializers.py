"""Request parsing and response shapes of the REST API (docs/rest.md).

Input serializers only check types and presence: the rules (body length,
membership, ownership) live in ``chat.services`` and are the same for the
websocket. Fields are strict: JSON ``5`` is not a string and ``"5"`` is not
an integer. Unknown fields in a body are ignored, so that older servers accept
newer clients. Output serializers exist to describe the shapes in the OpenAPI
schema; the bodies themselves come from ``chat.payloads``, like the frames.
"""

from rest_framework import serializers

from chat.payloads import room_payload, timestamp, user_payload
from chat.services import MAX_ID

# --- strict input fields ------------------------------------------------------


class StrictCharField(serializers.CharField):
    """A JSON string, storable as text anywhere: no NUL and no lone surrogates."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if "\x00" in data:
            raise serializers.ValidationError("Must not contain NUL characters.")
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            raise serializers.ValidationError("Must be valid Unicode text.") from None
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: not a boolean, a float or a numeric string."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


def user_id_field(**kwargs):
    return StrictIntegerField(min_value=1, max_value=MAX_ID, **kwargs)


# --- requests -----------------------------------------------------------------


class TokenLoginSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150, trim_whitespace=False)
    password = StrictCharField(max_length=4096, trim_whitespace=False)


class RoomCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100)
    members = serializers.ListField(
        child=user_id_field(), required=False, default=list, max_length=1000
    )


class UserRefSerializer(serializers.Serializer):
    user = user_id_field()


class MessageSendSerializer(serializers.Serializer):
    # Whitespace is kept: the body is stored as sent. Emptiness and length
    # are checked by message_send, as for the websocket.
    body = StrictCharField(trim_whitespace=False)
    client_id = StrictCharField(max_length=64, trim_whitespace=False)


class MessageEditSerializer(serializers.Serializer):
    body = StrictCharField(trim_whitespace=False)


class ReportCreateSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=500)


class ReadMarkerSerializer(serializers.Serializer):
    seq = StrictIntegerField(min_value=0, max_value=MAX_ID)


class HistoryQuerySerializer(serializers.Serializer):
    before = serializers.IntegerField(min_value=0, max_value=MAX_ID, required=False)
    after = serializers.IntegerField(min_value=0, max_value=MAX_ID, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)

    def validate(self, attrs):
        if "before" in attrs and "after" in attrs:
            raise serializers.ValidationError("Give 'before' or 'after', not both.")
        return attrs


# --- responses (schema only) --------------------------------------------------


class UserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


class RoomSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["group", "direct"])
    owner = serializers.IntegerField(allow_null=True, help_text="The owner's user id.")
    last_seq = serializers.IntegerField(min_value=0)
    last_read_seq = serializers.IntegerField(min_value=0)
    unread = serializers.IntegerField(min_value=0)
    members = UserSerializer(many=True)


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    room = serializers.IntegerField()
    seq = serializers.IntegerField(min_value=1)
    author = UserSerializer()
    body = serializers.CharField(allow_blank=True, help_text='"" once deleted.')
    client_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    edited_at = serializers.DateTimeField(allow_null=True)
    deleted = serializers.BooleanField()


class MessagePageSerializer(serializers.Serializer):
    results = MessageSerializer(many=True, help_text="Ascending seq.")
    has_more = serializers.BooleanField(
        help_text="More messages exist beyond this page in the direction of travel."
    )


class ReportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    message = serializers.IntegerField()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


# --- response bodies ----------------------------------------------------------


def room_object(membership):
    """A room as the member sees it: the ``hello`` shape plus kind, owner and members.

    ``membership`` comes from ``selectors.memberships_with_members``, which
    prefetched the members, so this runs no query.
    """
    room = membership.room
    return {
        **room_payload(room, membership.last_read_seq),
        "kind": room.kind,
        "owner": room.owner_id,
        "members": [user_payload(m.user) for m in room.member_list],
    }


def report_object(report):
    return {
        "id": report.pk,
        "message": report.message_id,
        "reason": report.reason,
        "created_at": timestamp(report.created_at),
    }
