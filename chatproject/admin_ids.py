"""Admin form fields that refuse ids no database can hold, as a form error.

A staff member can type any number into a raw-id or multiple-choice field.
On SQLite an id past 64 bits raises ``OverflowError`` inside the lookup,
which Django's model choice fields do not expect, so the page answered 500.
These fields check the range first and give the usual "not one of the
available choices" error instead. ``BoundedIdsAdmin`` puts them on every
foreign-key and many-to-many field of a ``ModelAdmin``.
"""

from django import forms
from django.core.exceptions import ValidationError

MAX_ID = 2**63 - 1


def _in_range(value):
    try:
        return 0 < int(str(value).strip()) <= MAX_ID
    except (TypeError, ValueError):
        return False


class BoundedModelChoiceField(forms.ModelChoiceField):
    def to_python(self, value):
        if value not in self.empty_values and self.to_field_name is None and not _in_range(value):
            raise ValidationError(
                self.error_messages["invalid_choice"],
                code="invalid_choice",
                params={"value": value},
            )
        return super().to_python(value)


class BoundedModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    def _check_values(self, value):
        for pk in value:
            if not _in_range(pk):
                raise ValidationError(
                    self.error_messages["invalid_choice"],
                    code="invalid_choice",
                    params={"value": pk},
                )
        return super()._check_values(value)


class BoundedIdsAdmin:
    """ModelAdmin mixin: relation fields refuse out-of-range ids with a form error."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs.setdefault("form_class", BoundedModelChoiceField)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs.setdefault("form_class", BoundedModelMultipleChoiceField)
        return super().formfield_for_manytomany(db_field, request, **kwargs)
