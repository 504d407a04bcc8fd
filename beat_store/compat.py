"""Differences between the supported Django versions (4.2 LTS to 6.x), in one place."""

from __future__ import annotations

from typing import Any

import django
from django.db import models

#: Django 5.1 renamed ``CheckConstraint(check=...)`` to ``condition=``; 6.0 removed ``check``.
_CHECK_KEYWORD = "condition" if django.VERSION >= (5, 1) else "check"


def check_constraint(condition: Any, *, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(**{_CHECK_KEYWORD: condition, "name": name})
