"""The preference form of the browser page (``/notifications/settings/``)."""

from django import forms

from chat.models import Room

from .models import EMAIL_DELAY_MAX


class PreferenceForm(forms.Form):
    push = forms.BooleanField(required=False, label="Push notifications on my devices")
    email = forms.BooleanField(required=False, label="Email me about messages I missed")
    email_delay_seconds = forms.IntegerField(
        min_value=0,
        max_value=EMAIL_DELAY_MAX,
        label="Wait this many seconds before emailing",
        help_text="Messages that arrive meanwhile go into the same email.",
    )
    # Choices, not a model field: a posted value is checked against the
    # user's own rooms before it reaches a query, whatever its size.
    muted_rooms = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Rooms I never get notifications for",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["muted_rooms"].choices = [
            (room.pk, room.name) for room in Room.objects.filter(memberships__user=user)
        ]
