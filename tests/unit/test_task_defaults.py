"""BEAT_STORE_TASK_DEFAULTS (#13): which entries apply to a task, how they merge, and what is refused."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import override_settings

from beat_store import task_defaults
from beat_store.models import Schedule

DEFAULTS = {
    "reports.*": {"queue": "reports", "misfire_grace_time": 600, "max_instances": 2},
    "reports.nightly": {"max_instances": 1, "coalesce": "earliest"},
    "reports.n*": {"queue": "nightly-queue", "jitter": 5},
    "*": {"expires": 3600},
}


@override_settings(BEAT_STORE_TASK_DEFAULTS=DEFAULTS)
def test_an_exact_name_wins_then_patterns_in_the_order_written_field_by_field() -> None:
    assert task_defaults.defaults_for("reports.nightly") == {
        "queue": "reports",  # the first pattern written wins over a later one
        "misfire_grace_time": 600,
        "max_instances": 1,  # the exact name wins over every pattern
        "coalesce": "earliest",
        "jitter": 5,
        "expires": 3600,
    }
    assert task_defaults.defaults_for("billing.invoice") == {"expires": 3600}


@override_settings(BEAT_STORE_TASK_DEFAULTS={"reports.?aily": {"queue": "q"}, "a.b": {"queue": "exact"}})
def test_glob_characters_are_the_only_special_ones() -> None:
    assert task_defaults.defaults_for("reports.daily") == {"queue": "q"}
    assert task_defaults.defaults_for("reports.ddaily") == {}
    assert task_defaults.defaults_for("axb") == {}  # the '.' of a name is a dot


@override_settings(BEAT_STORE_TASK_DEFAULTS=DEFAULTS)
def test_a_schedules_own_value_wins_and_an_unset_one_says_where_its_value_comes_from() -> None:
    nightly = Schedule(task="reports.nightly", max_instances=4, queue="")
    other = Schedule(task="billing.invoice")

    assert nightly.option_origin("max_instances") == task_defaults.Resolved(4, "schedule")
    assert nightly.option_origin("queue") == task_defaults.Resolved("reports", "settings")
    assert nightly.option_origin("coalesce") == task_defaults.Resolved("earliest", "settings")
    assert other.option_origin("coalesce") == task_defaults.Resolved("latest", "built-in")
    assert other.option_origin("max_instances") == task_defaults.Resolved(1, "built-in")
    policy = nightly.timing_policy()
    assert (policy.coalesce, policy.max_instances, policy.misfire_grace_time, policy.jitter) == (
        "earliest",
        4,
        600,
        5,
    )


def test_without_the_setting_unset_fields_keep_beat_stores_defaults() -> None:
    policy = Schedule(task="any.task").timing_policy()

    assert (policy.coalesce, policy.max_instances, policy.misfire_grace_time, policy.jitter) == (
        "latest",
        1,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        (["reports.*"], "must be a dict"),
        ({"": {"queue": "q"}}, "a key must be a task name"),
        ({"t": "q"}, "the defaults must be a dict"),
        ({"t": {"priority": 3}}, "unknown field 'priority'"),
        ({"t": {"coalesce": "newest"}}, "coalesce must be one of latest, earliest, all"),
        ({"t": {"max_instances": 0}}, "max_instances must be an integer >= 1"),
        ({"t": {"max_instances": 2.0}}, "max_instances must be an integer >= 1"),
        ({"t": {"max_instances": True}}, "max_instances must be an integer >= 1"),
        ({"t": {"misfire_grace_time": -1}}, "misfire_grace_time must be a number of seconds"),
        ({"t": {"jitter": float("nan")}}, "jitter must be a number of seconds"),
        ({"t": {"queue": 5}}, "queue must be a queue name"),
    ],
)
def test_a_malformed_setting_is_described_entry_and_field(setting: Any, problem: str) -> None:
    found = task_defaults.problems(setting)

    assert len(found) == 1
    assert problem in found[0]


def test_a_malformed_setting_is_ignored_where_it_is_used_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    malformed = {"t": {"max_instances": 0}, "u": {"queue": "fine"}}
    with (
        override_settings(BEAT_STORE_TASK_DEFAULTS=malformed),
        caplog.at_level(logging.ERROR, logger="beat_store.task_defaults"),
    ):
        defaults = task_defaults.defaults_for("u")

    assert defaults == {}
    assert "BEAT_STORE_TASK_DEFAULTS is ignored: 't': max_instances must be an integer >= 1" in caplog.text
