"""Form fields and widgets of the schedule form: JSON with precise errors, names picked from a datalist."""

from __future__ import annotations

import json
import zoneinfo
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from django import forms
from django.core.exceptions import ValidationError


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

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return self.expected()
        if isinstance(value, str):
            try:
                value = json.loads(value)
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


@lru_cache(maxsize=1)
def time_zone_names() -> list[str]:
    """The IANA zone names this Python knows, for a zone field's suggestions."""
    return sorted(zoneinfo.available_timezones())
