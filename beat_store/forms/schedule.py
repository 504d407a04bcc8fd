"""The schedule form of the admin: task names, JSON arguments, the trigger editor and the timing policy."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any

from celery import current_app
from django import forms
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils import timezone as dj_timezone
from django.utils.safestring import SafeString

from beat_store import task_defaults
from beat_store.conf import settings
from beat_store.enums import CoalescePolicy
from beat_store.exceptions import InvalidTrigger
from beat_store.forms.fields import BoundDateTimeWidget, DatalistInput, JSONTextField, time_zone_names
from beat_store.forms.preview import FireTimePreview, preview_fire_times
from beat_store.forms.triggers import COMBINATIONS, TriggerEditor
from beat_store.models import DEFINITION_FIELDS, Schedule
from beat_store.timezones import get_zone
from beat_store.triggers import anchor_of, build_trigger, describe_trigger

#: Help texts of the timing-policy fields (docs/spec.md "Timing rules"), in the admin's words.
TIMING_HELP = {
    "timezone": "IANA zone, e.g. Europe/Paris. Cron and calendar-interval triggers read the wall clock here; "
    "interval triggers count elapsed time and ignore it.",
    "start_at": "No fire time before this moment. A start in the past makes the fire times since then due at "
    "once (handled by the coalesce policy). For an interval trigger it is the first fire time.",
    "end_at": "No fire time after this moment; when the trigger runs out the schedule is finished.",
    "coalesce": "When several fire times were missed (beat down, schedule paused): run once for the latest, "
    "once for the earliest, or once for each.",
    "misfire_grace_time": "Seconds a run may start after its fire time (plus jitter). "
    "A run later than that is "
    "recorded 'missed' and not sent; workers also drop it.",
    "max_instances": "Runs of this schedule that may be open (pending, sent, started, retrying) at once; "
    "a run "
    "due beyond that is recorded 'skipped'.",
    "jitter": "Delay each run by a random 0..N seconds (never past the next fire time), to spread load.",
    "keep_runs_days": "Beat deletes this schedule's finished runs older than this many days, keeping the "
    "newest ones the chart shows. Empty: the site's BEAT_STORE_KEEP_RUNS_DAYS (30 unless set).",
    "paused": "A paused schedule does not fire; on resume, missed fire times follow the coalesce policy.",
    "expires": "Seconds after sending when a worker should no longer start the run (Celery 'expires').",
    "priority": "Celery message priority, 0-255 (broker-dependent).",
    "queue": "Celery queue to send to.",
}


def registered_task_names() -> list[str]:
    """Task names of the current Celery app, without Celery's own ``celery.*`` tasks."""
    return sorted(name for name in current_app.tasks if not name.startswith("celery."))


def preview_of(
    spec: dict[str, Any],
    *,
    zone_name: str,
    anchor: datetime,
    start_at: datetime | None,
    end_at: datetime | None,
) -> FireTimePreview:
    """The next fire times from now of a trigger as a schedule with these values would have it."""
    try:
        zone = get_zone(zone_name)
        trigger = build_trigger(spec, timezone=zone, anchor=anchor, start_at=start_at, end_at=end_at)
    except InvalidTrigger as error:
        return FireTimePreview(zone_name=zone_name, error=f"The trigger is not valid: {error}")
    return preview_fire_times(trigger, spec, zone=zone, zone_name=zone_name, now=dj_timezone.now())


#: Besides the trigger, the fields the fire times depend on: their errors are the live preview's too.
BOUNDS_AND_ZONE = ("timezone", "start_at", "end_at")


class TriggerEditorWidget(forms.Widget):
    """Renders the form's ``TriggerEditor`` (set by the form on its own copy of the widget)."""

    template_name = "beat_store/admin/widgets/trigger_editor.html"
    editor: TriggerEditor | None = None

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        return None  # the editor reads its own sub-fields

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        return SafeString(render_to_string(self.template_name, {"editor": self.editor, "name": name}))


class TriggerEditorField(forms.Field):
    widget = TriggerEditorWidget

    def has_changed(self, initial: Any, data: Any) -> bool:
        return False  # ScheduleForm.changed_data compares the built spec instead


class ScheduleForm(forms.ModelForm):
    """Add/change form of a schedule. ``warnings`` lists what the admin should tell the user after saving."""

    task = forms.CharField(
        max_length=200,
        widget=DatalistInput(registered_task_names, attrs={"placeholder": "proj.tasks.report"}),
        help_text="A task registered in the Celery app (suggested as you type).",
    )
    trigger = TriggerEditorField(required=False, label="Trigger")
    args = JSONTextField(
        expected=list,
        label_for_errors="Positional arguments",
        example='[1, "two"]',
        help_text='Positional arguments, a JSON list, e.g. [1, "two"]. Empty: none.',
    )
    kwargs = JSONTextField(
        expected=dict,
        label_for_errors="Keyword arguments",
        example='{"report": "daily"}',
        help_text='Keyword arguments, a JSON object, e.g. {"report": "daily"}. Empty: none.',
    )
    headers = JSONTextField(
        expected=dict,
        label_for_errors="Headers",
        example='{"tenant": "acme"}',
        help_text="Extra message headers, a JSON object. beat_store adds its own beat_store_* headers.",
    )
    metadata = JSONTextField(
        expected=dict,
        label_for_errors="Metadata",
        example='{"owner": "ops", "ticket": "OPS-12"}',
        help_text="Your own notes on the schedule, a JSON object; found by the list's search, never sent to the task.",
    )
    timezone = forms.CharField(max_length=63, widget=DatalistInput(time_zone_names), help_text=TIMING_HELP["timezone"])

    class Meta:
        model = Schedule
        fields = DEFINITION_FIELDS  # the admin lays them out with its fieldsets

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.warnings: list[str] = []
        self.preview: FireTimePreview | None = None
        self.editor = TriggerEditor(self.data if self.is_bound else None, spec=self.instance.trigger)
        widget = self.fields["trigger"].widget
        assert isinstance(widget, TriggerEditorWidget)
        widget.editor = self.editor
        for name, text in TIMING_HELP.items():
            if name in self.fields:
                self.fields[name].help_text = text
        site_zone = dj_timezone.get_current_timezone_name()
        for name in ("start_at", "end_at"):
            if name in self.fields:
                self.fields[name].widget = BoundDateTimeWidget()
                # Django reads a date and time typed in a form in the site's (active) zone, not the schedule's.
                self.fields[name].help_text += f" Entered in the site's time zone ({site_zone})."
        if not self.instance.pk and "timezone" in self.fields:
            self.fields["timezone"].initial = settings.DEFAULT_TIMEZONE
        self._explain_task_defaults()

    def _explain_task_defaults(self) -> None:
        """Say, next to each field a task default may fill, what an empty value means for this schedule."""
        for name in task_defaults.FIELDS:
            field = self.fields.get(name)
            if field is None:
                continue
            empty_means = task_defaults.describe(name, task_defaults.BUILT_IN[name])
            if not self.instance.task:
                field.help_text += f" Empty: the task's default from BEAT_STORE_TASK_DEFAULTS, else {empty_means}."
                continue
            resolved = task_defaults.resolve(self.instance.task, name, None)
            if resolved.origin == "settings":
                shown = task_defaults.describe(name, resolved.value)
                field.help_text += f" Empty: {shown}, the default from settings for {self.instance.task}."
            else:
                field.help_text += f" Empty: {empty_means}."
        coalesce = self.fields.get("coalesce")
        if isinstance(coalesce, forms.ChoiceField):
            coalesce.choices = [("", "— the task's default (else latest) —"), *CoalescePolicy.choices]

    @property
    def is_preview(self) -> bool:
        """The "Preview" button: validate and re-render with the fire times, save nothing."""
        return self.is_bound and "_preview" in self.data

    def is_valid(self) -> bool:
        # The admin saves only a valid form: a preview is a valid form that is not saved, with no error shown.
        return super().is_valid() and not self.is_preview

    def clean_task(self) -> str:
        name = self.cleaned_data["task"].strip()
        if name in registered_task_names():
            return name
        if not settings.ALLOW_UNREGISTERED_TASKS:
            raise ValidationError(
                "No task named %(name)s is registered in the Celery app. Check the spelling, or set "
                "BEAT_STORE_ALLOW_UNREGISTERED_TASKS = True if only some workers import it.",
                code="unknown_task",
                params={"name": repr(name)},
            )
        self.warnings.append(
            f"The task {name!r} is not registered in this Celery app: make sure the workers that consume its "
            "queue import it."
        )
        return name

    def clean_timezone(self) -> str:
        name = self.cleaned_data["timezone"].strip()
        try:
            get_zone(name)
        except InvalidTrigger as error:
            raise ValidationError(
                "%(reason)s: use an IANA name such as Europe/Paris or UTC.",
                code="invalid_timezone",
                params={"reason": error.reason[:1].upper() + error.reason[1:]},
            ) from None
        return name

    def clean_trigger(self) -> dict[str, Any]:
        if not self.editor.is_valid():
            raise self.editor.validation_error()
        assert self.editor.spec is not None
        return self.editor.spec

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start_at, end_at = cleaned.get("start_at"), cleaned.get("end_at")
        if start_at and end_at and end_at < start_at:
            self.add_error("end_at", "The end must not come before the start.")
        elif "trigger" in cleaned and "timezone" in cleaned and not self.has_error("start_at"):
            self.preview = self._preview(cleaned)
        return cleaned

    def _preview(self, cleaned: dict[str, Any]) -> FireTimePreview | None:
        start_at, end_at = cleaned.get("start_at"), cleaned.get("end_at")
        anchor = anchor_of(start_at, self.instance.created_at)
        try:
            build_trigger(
                cleaned["trigger"],
                timezone=get_zone(cleaned["timezone"]),
                anchor=anchor,
                start_at=start_at,
                end_at=end_at,
            )
        except InvalidTrigger as error:
            if error.field and error.field.startswith("triggers."):
                # Known only with the zone (a member's bound in a DST gap): shown next to the member's field.
                self.editor.show_error(error)
                self.add_error("trigger", self.editor.validation_error())
                return None
        preview = preview_of(
            cleaned["trigger"], zone_name=cleaned["timezone"], anchor=anchor, start_at=start_at, end_at=end_at
        )
        if preview.error and not preview.fire_times:
            # Saving would fail when the schedule computes its first fire time: refuse it here instead.
            self.add_error("trigger", preview.error)
        elif not preview.fire_times:
            self.warnings.append(
                "This trigger has no fire time from now on (a date in the past, or an end before the next fire "
                "time): the schedule is saved as finished and will not run."
            )
        return preview

    def get_preview(self) -> FireTimePreview | None:
        """The preview to show: of the submitted values when they are valid, else of the saved schedule."""
        if self.is_bound:
            return self.preview
        if self.instance.pk is None:
            return None
        instance = self.instance
        return preview_of(
            instance.trigger,
            zone_name=instance.timezone,
            anchor=instance.anchor,
            start_at=instance.start_at,
            end_at=instance.end_at,
        )

    def live_preview(self) -> dict[str, Any]:
        """What the schedule page shows beside the trigger while the user types (as JSON): the trigger in words,
        its next fire times in the schedule's zone, warnings, and the errors of the fields it depends on. Errors
        of the other fields (name, task, ...) do not stop it."""
        errors = self._trigger_field_errors() or [str(message) for message in self.errors.get("trigger", ())]
        errors += [str(message) for name in BOUNDS_AND_ZONE for message in self.errors.get(name, ())]
        spec, zone_name = self.cleaned_data.get("trigger"), self.cleaned_data.get("timezone")
        preview = self.preview
        if preview is not None and preview.error and preview.error not in errors:
            errors.append(preview.error)
        return {
            "zone": zone_name or "",
            "description": describe_trigger(spec, zone_name) if spec and zone_name else "",
            "fire_times": preview.shown_fire_times if preview else [],
            "warnings": preview.warnings if preview else [],
            "errors": errors,
        }

    def _trigger_field_errors(self) -> list[str]:
        """The trigger editor's errors, each after the label of its field ("Hour: ..."): the page marks the
        fields, the live preview has only words."""
        if not self.has_error("trigger"):
            return []
        labelled = [("", self.editor.form)]
        if self.editor.form.chosen_kind in COMBINATIONS:
            labelled += [(f"Member {number} ", member) for number, member in enumerate(self.editor.members.forms, 1)]
        return [
            f"{where}{form.fields[name].label if name in form.fields else 'Trigger'}: {message}"
            for where, form in labelled
            for name, messages in form.errors.items()
            for message in messages
        ]

    def _update_errors(self, errors: ValidationError) -> None:
        # A trigger the editor refused is not on the instance: drop the model's echo of that refusal.
        if self.has_error("trigger") and hasattr(errors, "error_dict"):
            errors.error_dict.pop("trigger", None)
            if not errors.error_dict:
                return
        super()._update_errors(errors)  # type: ignore[misc]

    @cached_property
    def changed_data(self) -> list[str]:
        changed = [name for name in super().changed_data if name != "trigger"]
        if self.editor.spec is not None and self.editor.spec != self.initial.get("trigger"):
            changed.append("trigger")
        return changed
