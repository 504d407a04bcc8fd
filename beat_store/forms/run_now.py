"""The form of the admin's "run now with..." page: keyword arguments for this run only, and force."""

from __future__ import annotations

from django import forms

from beat_store.forms.fields import JSONTextField


class RunNowForm(forms.Form):
    kwargs = JSONTextField(
        expected=dict,
        label_for_errors="Keyword arguments",
        example='{"report": "daily"}',
        label="Keyword arguments",
        help_text="For this run only, instead of the schedule's; a JSON object. Empty: the schedule's own.",
    )
    force = forms.BooleanField(
        required=False,
        label="Force",
        help_text="Send it even when the schedule's max instances are still running (recorded as forced).",
    )

    def __init__(self, *args: object, schedule_kwargs: dict[str, object], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["kwargs"].initial = schedule_kwargs
