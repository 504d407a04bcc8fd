"""Form fields and widgets of the schedule form: JSON with precise errors, names picked from a datalist."""

from __future__ import annotations

import json
import zoneinfo
from collections.abc import Callable, Iterable
from datetime import date, time
from functools import lru_cache
from typing import Any

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput

from beat_store.limits import MAX_JSON_BYTES, MAX_JSON_DEPTH


class JSONTextField(forms.JSONField):
    """A JSON textarea whose errors say where the JSON breaks and which JSON type is expected.

    ``expected`` is ``list`` or ``dict``; ``example`` goes into the error so the user sees the shape wanted.
    """

    def __init__(self, *, expected: type, label_for_errors: str, example: str, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 2, "cols": 60, "class": "vLargeTextField"}))
        kwargs.setdefault("required", False)
        kwargs.setdefault("initial", expected)  # a new schedule shows [] / {}, not "null"
        super().__init__(**kwargs)
        self.expected = expected
        self.label_for_errors = label_for_errors
        self.example = example

    def bound_data(self, data: Any, initial: Any) -> Any:
        # Shown again as typed when Django's own decoding would fail past the JSON decoder's error (too deep).
        if isinstance(data, str) and len(data) > MAX_JSON_BYTES:
            return InvalidJSONInput(data)
        try:
            return super().bound_data(data, initial)
        except (RecursionError, ValueError):  # ValueError: a number of more than 4,300 digits
            return InvalidJSONInput(data)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return self.expected()
        if isinstance(value, str):
            if len(value) > MAX_JSON_BYTES:
                raise ValidationError(
                    "Too long: %(length)s characters; at most %(limit)s.",
                    code="too_long",
                    params={"length": f"{len(value):,}", "limit": f"{MAX_JSON_BYTES:,}"},
                )
            try:
                value = json.loads(value)
            except RecursionError:
                raise ValidationError(
                    "Nested too deep: at most %(depth)s levels of lists and objects.",
                    code="too_deep",
                    params={"depth": MAX_JSON_DEPTH},
                ) from None
            except json.JSONDecodeError as error:
                raise ValidationError(
                    "Not valid JSON: %(reason)s at line %(line)s, column %(column)s. Example: %(example)s",
                    code="invalid",
                    params={
                        "reason": error.msg,
                        "line": error.lineno,
                        "column": error.colno,
                        "example": self.example,
                    },
                ) from None
            except ValueError:  # after JSONDecodeError, its subclass: a number of more than 4,300 digits
                raise ValidationError(
                    "A number too long to read (at most 4,300 digits).", code="number_too_long"
                ) from None
        if value is None:
            return self.expected()
        if not isinstance(value, self.expected):
            shape = "a JSON list" if self.expected is list else "a JSON object"
            raise ValidationError(
                "%(what)s must be %(shape)s such as %(example)s, not %(got)s.",
                code="wrong_type",
                params={
                    "what": self.label_for_errors,
                    "shape": shape,
                    "example": self.example,
                    "got": _json_kind(value),
                },
            )
        return value


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null"


class DatalistInput(forms.TextInput):
    """A text input offering suggestions (an HTML ``<datalist>``) while accepting any text.

    ``options`` is called at render time, so the suggestions follow the Celery app's registry as it is then.
    """

    template_name = "beat_store/admin/widgets/datalist.html"

    def __init__(self, options: Callable[[], Iterable[str]], attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs={"class": "vTextField", "autocomplete": "off", **(attrs or {})})
        self.options = options

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        list_id = f"{context['widget']['attrs'].get('id') or name}_options"
        context["widget"]["attrs"]["list"] = list_id
        context["widget"]["datalist_id"] = list_id
        context["widget"]["options"] = list(self.options())
        return context


class BoundDateTimeWidget(AdminSplitDateTime):
    """Django's admin date and time pickers for ``start_at``/``end_at``, showing a stored moment the site's zone
    cannot hold (within hours of year 1 or 9999, written around validation) in UTC instead of failing."""

    def decompress(self, value: Any) -> tuple[date | None, time | None]:
        try:
            return super().decompress(value)
        except OverflowError:
            return value.date(), value.time()


class WallTimeWidget(AdminSplitDateTime):
    """Django's admin date and time pickers for a wall time kept as text ("2026-12-01 09:00"), unconverted:
    the text is read in the schedule's zone later, not in the site's zone as Django's date-time field would.

    A single text value under the field's own name is still read, for clients posting it that way."""

    # The overrides keep text where Django's widget has date/time objects: hence the ignores.
    def decompress(self, value: Any) -> list[Any]:  # type: ignore[override]
        if not value:
            return [None, None]
        date, _, time = str(value).replace("T", " ", 1).partition(" ")
        return [date, time]

    def value_from_datadict(self, data: Any, files: Any, name: str) -> str:  # type: ignore[override]
        if name in data:
            return str(data[name])
        date, time = (str(part or "").strip() for part in super().value_from_datadict(data, files, name))
        return f"{date} {time}".strip()


#: Entries of the system's zone database that are files, not zones a person would pick: "Factory" (no zone
#: set), "localtime" (the host's zone, whatever it is), "posixrules", and the posix/ and right/ copies.
NOT_ZONES = frozenset({"Factory", "localtime", "posixrules"})


@lru_cache(maxsize=1)
def time_zone_names() -> list[str]:
    """The IANA zone names this Python knows, for a zone field's suggestions."""
    return sorted(
        name
        for name in zoneinfo.available_timezones()
        if name not in NOT_ZONES and not name.startswith(("posix/", "right/"))
    )
