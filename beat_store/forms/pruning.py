"""The form of the admin's "prune executions" page."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError

from beat_store.pruning import parse_age


class PruneForm(forms.Form):
    older_than = forms.CharField(
        label="Delete executions older than",
        initial="30d",
        help_text="A whole number and a unit: w (weeks), d (days), h (hours), m (minutes), "
        "e.g. 7d, 12h, 30m. "
        "Open runs (pending, sent, started, retrying) are kept.",
    )

    def clean_older_than(self) -> timedelta:
        try:
            return parse_age(self.cleaned_data["older_than"])
        except ValueError as error:
            raise ValidationError(str(error), code="invalid_age") from None
