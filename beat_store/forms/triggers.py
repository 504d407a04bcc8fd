"""The trigger editor: every trigger kind as plain form fields, and ``and``/``or`` as a list of member forms.

The editor turns the fields into a JSON trigger spec (docs/spec.md "Trigger specs"), validates it with
``validate_trigger_spec`` and puts each ``InvalidTrigger`` back on the form field it came from, so a bad cron
minute is reported next to the minute box, not as a JSON path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from beat_store.exceptions import InvalidTrigger
from beat_store.forms.fields import DatalistInput, WallTimeWidget, time_zone_names
from beat_store.limits import MAX_JSON_BYTES, MAX_JSON_DEPTH, MAX_TRIGGER_MEMBERS
from beat_store.triggers import validate_trigger_spec
from beat_store.triggers.cron_syntax import CRON_FIELD_NAMES as CRON_FIELDS
from beat_store.triggers.spec import (
    CALENDAR_STEPS,
    INTERVAL_UNITS,
    MAX_AND_ITERATIONS,
    MAX_AND_THRESHOLD,
    TIME_OF_DAY_LIMITS,
)

INTERVAL_FIELDS = INTERVAL_UNITS
CALENDAR_FIELDS = (*CALENDAR_STEPS, *TIME_OF_DAY_LIMITS)
COMBINATIONS = ("or", "and")
#: The editor's own kind for a spec typed as JSON (nested combinations, or anything pasted).
SPEC_KIND = "spec"

#: Spec key -> form field name, per trigger kind (kinds share key names such as ``hour`` and ``weeks``).
FIELD_OF_KEY: dict[str, dict[str, str]] = {
    "cron": {"expression": "cron_expression", **{key: f"cron_{key}" for key in CRON_FIELDS}},
    "interval": {key: f"interval_{key}" for key in INTERVAL_FIELDS},
    "calendarinterval": {key: f"calendar_{key}" for key in CALENDAR_FIELDS},
    "date": {"run_at": "date_run_at"},
}

#: Spec key -> form field name of what only a top-level ``and`` has, and what only a member has.
AND_FIELD_OF_KEY = {"threshold": "and_threshold", "max_iterations": "and_max_iterations"}
MEMBER_FIELD_OF_KEY = {"start_at": "member_start_at", "end_at": "member_end_at", "timezone": "member_timezone"}

SIMPLE_KINDS = [
    ("cron", "cron: crontab expression or fields"),
    ("interval", "interval: a fixed elapsed time"),
    ("date", "date: once, at a given time"),
    ("calendarinterval", "calendar interval: every N years/months/weeks/days at a time of day"),
]
TOP_KINDS = [
    *SIMPLE_KINDS,
    ("or", "or: fires when any member trigger fires"),
    ("and", "and: fires when all member triggers agree"),
    (SPEC_KIND, "JSON spec (advanced)"),
]
MEMBER_KINDS = [("", "(unused)"), *SIMPLE_KINDS, (SPEC_KIND, "JSON spec (advanced, e.g. a nested or/and)")]

CRON_HELP = {
    "year": "4-digit year, e.g. 2027 or 2026-2028. Default *.",
    "month": "1-12 or jan-dec, e.g. 1,4,7,10. Default *.",
    "day": "Day of month 1-31, or 'last'. Default *.",
    "week": "ISO week 1-53. Default *.",
    "day_of_week": "0-7 or sun-sat, numbered as in crontab and APScheduler 4 (0 and 7 = Sunday, 1 = Monday), "
    "e.g. mon-fri or 1-5; a range may wrap past Sunday (sat-mon). Default *.",
    "hour": "0-23, e.g. 9 or 8-18/2.",
    "minute": "0-59, e.g. 0 or */15.",
    "second": "0-59. Default 0.",
}


def _count_field(label: str, help_text: str, *, whole: bool) -> forms.Field:
    if whole:
        return forms.IntegerField(label=label, required=False, min_value=0, help_text=help_text)
    return forms.FloatField(label=label, required=False, min_value=0, help_text=help_text)


def _date_time_field(label: str, help_text: str) -> forms.Field:
    """An ISO 8601 date-time typed as text (a space for the T), checked by the spec's validation."""
    return forms.CharField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.TextInput(attrs={"placeholder": "2026-12-01 09:00", "class": "vTextField"}),
    )


class TriggerForm(forms.Form):
    """One trigger of any simple kind (or a JSON spec); the top-level form also offers ``or``/``and``."""

    kind = forms.ChoiceField(label="Trigger type", choices=TOP_KINDS, initial="cron")

    cron_expression = forms.CharField(
        label="Crontab expression",
        required=False,
        help_text="Classic 5 fields: minute hour day-of-month month day-of-week, e.g. '*/5 * * * *' or "
        "'0 9 * * mon-fri'. Leave empty to use the fields below instead.",
        widget=forms.TextInput(attrs={"placeholder": "0 9 * * mon-fri", "class": "vTextField"}),
    )
    cron_year = forms.CharField(label="Year", required=False, help_text=CRON_HELP["year"])
    cron_month = forms.CharField(label="Month", required=False, help_text=CRON_HELP["month"])
    cron_day = forms.CharField(label="Day", required=False, help_text=CRON_HELP["day"])
    cron_week = forms.CharField(label="Week", required=False, help_text=CRON_HELP["week"])
    cron_day_of_week = forms.CharField(label="Day of week", required=False, help_text=CRON_HELP["day_of_week"])
    cron_hour = forms.CharField(label="Hour", required=False, help_text=CRON_HELP["hour"])
    cron_minute = forms.CharField(label="Minute", required=False, help_text=CRON_HELP["minute"])
    cron_second = forms.CharField(label="Second", required=False, help_text=CRON_HELP["second"])
    #: APScheduler's rule for fields left empty, shown once above them.
    cron_fields_note = (
        "Fields left empty take APScheduler's defaults: those smaller than the smallest one given "
        "are at their "
        "minimum (second 0), the others are *."
    )

    interval_weeks = _count_field("Weeks", "", whole=False)
    interval_days = _count_field("Days", "", whole=False)
    interval_hours = _count_field("Hours", "", whole=False)
    interval_minutes = _count_field("Minutes", "", whole=False)
    interval_seconds = _count_field(
        "Seconds", "Elapsed time between fire times; DST never changes it. Empty counts as 0.", whole=False
    )

    date_run_at = forms.CharField(
        label="Run at",
        required=False,
        help_text="Wall time in the schedule's time zone, e.g. 2026-12-01 and 09:00 (add +01:00 to the time to "
        "fix the offset).",
        widget=WallTimeWidget,
    )

    calendar_years = _count_field("Years", "", whole=True)
    calendar_months = _count_field("Months", "", whole=True)
    calendar_weeks = _count_field("Weeks", "", whole=True)
    calendar_days = _count_field(
        "Days",
        "Calendar steps from the start date; a date that does not exist (Jan 31 + 1 month) is skipped.",
        whole=True,
    )
    calendar_hour = _count_field("Hour", "Time of day (wall clock), 0-23.", whole=True)
    calendar_minute = _count_field("Minute", "0-59.", whole=True)
    calendar_second = _count_field("Second", "0-59.", whole=True)

    and_threshold = forms.FloatField(
        label="Threshold (seconds)",
        required=False,
        min_value=0,
        max_value=MAX_AND_THRESHOLD,
        help_text="How far apart the members' fire times may be and still agree; 0 = the same instant. "
        "Empty: 1 second.",
    )
    and_max_iterations = forms.IntegerField(
        label="Max iterations",
        required=False,
        min_value=1,
        max_value=MAX_AND_ITERATIONS,
        help_text=f"Rounds of asking the members before giving up (the schedule is then paused with the error); "
        f"at most {MAX_AND_ITERATIONS:,}, which keeps a tick short. Empty: {MAX_AND_ITERATIONS:,}.",
    )

    member_start_at = _date_time_field(
        "Member start",
        "Optional: no fire time of this member before it; also its first fire time (interval) or start date "
        "(calendar interval). A wall time in the member's zone, e.g. 2026-12-01 09:00 (or add +01:00).",
    )
    member_end_at = _date_time_field(
        "Member end", "Optional: no fire time of this member after it. A wall time in the member's zone."
    )
    member_timezone = forms.CharField(
        label="Member time zone",
        required=False,
        max_length=63,
        help_text="Optional IANA zone in which this member reads the wall clock; empty: the schedule's zone.",
        widget=DatalistInput(time_zone_names),
    )

    spec_json = forms.CharField(
        label="Trigger spec (JSON)",
        required=False,
        max_length=MAX_JSON_BYTES,
        help_text='A spec as in the docs, e.g. {"type": "or", "triggers": [{"type": "cron", "expression": '
        '"0 9 * * *"}, {"type": "interval", "hours": 6}]}.',
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "class": "vLargeTextField"}),
    )

    def __init__(self, *args: Any, member: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.member = member
        # A member has its own bounds and zone; the top-level trigger has the schedule's, and the 'and' options.
        for name in (AND_FIELD_OF_KEY if member else MEMBER_FIELD_OF_KEY).values():
            del self.fields[name]
        if member:
            kind_field = self.fields["kind"]
            assert isinstance(kind_field, forms.ChoiceField)
            kind_field.choices = MEMBER_KINDS
            kind_field.required = False
            kind_field.initial = ""

    @property
    def chosen_kind(self) -> str:
        """The kind picked (bound forms: as typed, even when invalid)."""
        if self.is_bound:
            return str(self.data.get(self.add_prefix("kind"), "") or "")
        return str(self.initial.get("kind", self.fields["kind"].initial) or "")

    @property
    def is_unused(self) -> bool:
        return self.member and not self.cleaned_data.get("kind")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind = cleaned.get("kind")
        if kind == "cron":
            self._check_cron_fields(cleaned)
        elif kind == "date" and not (cleaned.get("date_run_at") or "").strip():
            self.add_error("date_run_at", "Give the date and time of the single run, e.g. 2026-12-01 09:00.")
        elif kind == SPEC_KIND:
            self._parse_spec_json(cleaned)
        if kind and self.member:
            self._check_member_options(cleaned)
        return cleaned

    def member_options(self) -> dict[str, str]:
        """A member's own start_at, end_at and timezone as spec values (only those filled in)."""
        options = {}
        for key, name in MEMBER_FIELD_OF_KEY.items():
            text = (self.cleaned_data.get(name) or "").strip()
            if text:
                options[key] = text.replace(" ", "T", 1) if key != "timezone" else text
        return options

    def _check_member_options(self, cleaned: Mapping[str, Any]) -> None:
        spec = cleaned.get("spec_value")
        if not isinstance(spec, Mapping):
            return
        for key in set(spec) & set(self.member_options()):
            self.add_error(MEMBER_FIELD_OF_KEY[key], f"The JSON spec sets {key} too: give it in one place, not both.")

    def _check_cron_fields(self, cleaned: Mapping[str, Any]) -> None:
        given = [key for key in CRON_FIELDS if (cleaned.get(f"cron_{key}") or "").strip()]
        expression = (cleaned.get("cron_expression") or "").strip()
        if expression and given:
            self.add_error(
                "cron_expression",
                "Give either a crontab expression or the fields below, not both "
                f"(the {given[0].replace('_', ' ')} field is filled in too).",
            )
        elif not expression and not given:
            self.add_error(
                "cron_expression",
                "Give a crontab expression such as '0 9 * * mon-fri', or fill in some of the fields below.",
            )

    def _parse_spec_json(self, cleaned: dict[str, Any]) -> None:
        text = (cleaned.get("spec_json") or "").strip()
        if not text:
            self.add_error("spec_json", "Give the trigger spec as a JSON object.")
            return
        try:
            cleaned["spec_value"] = json.loads(text)
        except json.JSONDecodeError as error:
            self.add_error("spec_json", f"Not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}.")
        except RecursionError:
            self.add_error("spec_json", f"Nested too deep: at most {MAX_JSON_DEPTH} levels of lists and objects.")
        except ValueError:  # after JSONDecodeError, its subclass
            self.add_error("spec_json", "A number too long to read (at most 4,300 digits).")

    def build_spec(self) -> Any:
        """The (not yet validated) spec of a simple kind or a JSON member, with a member's own options; call
        after ``is_valid()``."""
        spec = self._build_kind_spec()
        if self.member and isinstance(spec, Mapping):
            return {**spec, **self.member_options()}
        return spec

    def and_options(self) -> dict[str, Any]:
        """The top-level ``and``'s threshold and max_iterations (only those filled in)."""
        return {
            key: _number(self.cleaned_data[name])
            for key, name in AND_FIELD_OF_KEY.items()
            if self.cleaned_data.get(name) is not None
        }

    def _build_kind_spec(self) -> Any:
        cleaned = self.cleaned_data
        kind = cleaned["kind"]
        if kind == SPEC_KIND:
            # Not necessarily an object: validate_trigger_spec names what it got.
            return cleaned["spec_value"]
        if kind == "cron":
            expression = (cleaned.get("cron_expression") or "").strip()
            if expression:
                return {"type": "cron", "expression": expression}
            return {
                "type": "cron",
                **{
                    key: cleaned[f"cron_{key}"].strip() for key in CRON_FIELDS if (cleaned[f"cron_{key}"] or "").strip()
                },
            }
        if kind == "date":
            return {"type": "date", "run_at": cleaned["date_run_at"].strip().replace(" ", "T", 1)}
        keys = INTERVAL_FIELDS if kind == "interval" else CALENDAR_FIELDS
        return {"type": kind, **{key: _number(cleaned.get(FIELD_OF_KEY[kind][key])) for key in keys}}

    def add_spec_error(self, error: InvalidTrigger, path: list[str]) -> None:
        """Show ``error`` (its field path relative to this trigger in ``path``) next to the field it names."""
        kind = self.cleaned_data.get("kind", "")
        field = _form_field(kind, path[0], member=self.member) if len(path) == 1 else None
        if kind == SPEC_KIND and field is not None and not (self.cleaned_data.get(field) or "").strip():
            field = None  # the value came from the JSON spec: say so there
        if kind == SPEC_KIND and field is None:
            where = ".".join(path)
            self.add_error("spec_json", f"{where}: {error.reason}" if where else error.reason)
        elif field is not None:
            self.add_error(field, _sentence(error.reason))
        else:
            self.add_error(None, _sentence(error.reason))


def _form_field(kind: str, key: str, *, member: bool) -> str | None:
    """The form field showing spec key ``key`` of a trigger of ``kind`` (None: the JSON box or the form)."""
    if member and key in MEMBER_FIELD_OF_KEY:
        return MEMBER_FIELD_OF_KEY[key]
    if not member and kind == "and" and key in AND_FIELD_OF_KEY:
        return AND_FIELD_OF_KEY[key]
    return FIELD_OF_KEY.get(kind, {}).get(key)


def _number(value: float | int | None) -> float | int:
    if value is None:
        return 0
    return int(value) if float(value).is_integer() else value


def _sentence(reason: str) -> str:
    text = reason[:1].upper() + reason[1:]
    return text if text.endswith(".") else f"{text}."


def initial_from_spec(spec: Mapping[str, Any] | None, *, member: bool = False) -> dict[str, Any]:
    """Form initial data showing ``spec``; specs the plain fields cannot show become a JSON spec."""
    if not isinstance(spec, Mapping) or "type" not in spec:
        return {"kind": "" if member else "cron"}
    kind = spec["type"]
    if kind in COMBINATIONS and not member:
        return {"kind": kind, **{name: spec[key] for key, name in AND_FIELD_OF_KEY.items() if key in spec}}
    if kind not in FIELD_OF_KEY:
        return {"kind": SPEC_KIND, "spec_json": json.dumps(spec, indent=2)}
    initial: dict[str, Any] = {"kind": kind}
    for key, field in {**FIELD_OF_KEY[kind], **(MEMBER_FIELD_OF_KEY if member else {})}.items():
        if key in spec:
            initial[field] = spec[key]
    for key in ("run_at", "start_at", "end_at"):
        field = FIELD_OF_KEY["date"]["run_at"] if key == "run_at" else MEMBER_FIELD_OF_KEY[key]
        if field in initial:
            initial[field] = str(initial[field]).replace("T", " ", 1)
    return initial


class BaseMemberFormSet(forms.BaseFormSet):
    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {**super().get_form_kwargs(index), "member": True}


MemberFormSet = forms.formset_factory(
    TriggerForm,
    formset=BaseMemberFormSet,
    extra=2,
    max_num=MAX_TRIGGER_MEMBERS,
    absolute_max=MAX_TRIGGER_MEMBERS,
    validate_max=True,
)


class TriggerEditor:
    """The top trigger form plus its member formset, read and validated together.

    ``prefix`` keeps its fields apart from the schedule form's (e.g. ``trigger-kind``,
    ``trigger_members-0-kind``).
    """

    def __init__(self, data: Mapping[str, Any] | None, *, spec: Mapping[str, Any] | None, prefix: str = "trigger"):
        members = spec.get("triggers", []) if isinstance(spec, Mapping) and spec.get("type") in COMBINATIONS else []
        self.form = TriggerForm(data, prefix=prefix, initial=initial_from_spec(spec))
        self.members = MemberFormSet(
            data,
            prefix=f"{prefix}_members",
            initial=[initial_from_spec(member, member=True) for member in members],
        )
        self.spec: dict[str, Any] | None = None
        self.errors: list[str] = []
        self._used: list[TriggerForm] = []

    def is_valid(self) -> bool:
        """Build and validate the spec; on success ``self.spec`` holds it, normalised."""
        if not self.form.is_valid():
            return False
        kind = self.form.cleaned_data["kind"]
        if kind in COMBINATIONS:
            if not self.members.is_valid():
                return False
            used = [member for member in self.members.forms if not member.is_unused]
            spec: dict[str, Any] = {"type": kind, "triggers": [member.build_spec() for member in used]}
            if kind == "and":
                spec.update(self.form.and_options())
        else:
            used = []
            spec = self.form.build_spec()
        self._used = used
        try:
            self.spec = validate_trigger_spec(spec)
        except InvalidTrigger as error:
            self.show_error(error)
            return False
        return True

    def show_error(self, error: InvalidTrigger) -> None:
        """Put ``error`` (a path into the spec built by ``is_valid()``) next to the field it names; also for
        errors only building the trigger finds (a member's bound in a DST gap of its zone)."""
        self._route_error(error, self._used)

    def _route_error(self, error: InvalidTrigger, used: list[TriggerForm]) -> None:
        path = error.field.split(".") if error.field else []
        if self.form.cleaned_data["kind"] in COMBINATIONS:
            if path[:1] == ["triggers"] and len(path) >= 2 and path[1].isdigit() and int(path[1]) < len(used):
                used[int(path[1])].add_spec_error(error, path[2:])
                return
            if path == ["triggers"]:
                self.form.add_error(
                    "kind",
                    f"An '{self.form.cleaned_data['kind']}' trigger needs at least one member trigger: "
                    "pick a type for one of the members below.",
                )
                return
        self.form.add_spec_error(error, path)

    def validation_error(self) -> ValidationError:
        return ValidationError("The trigger is not valid: see the trigger fields marked below.", code="invalid_trigger")
