from __future__ import annotations

from datetime import datetime, timedelta, timezone

from beat_store.triggers import build_trigger

ANCHOR = datetime(2026, 1, 1, tzinfo=timezone.utc)
LATER = ANCHOR + timedelta(seconds=7)


def test_schedules_sharing_a_cron_spec_share_one_built_trigger_whatever_their_anchor() -> None:
    first = build_trigger({"type": "cron", "expression": "* * * * *"}, timezone="UTC", anchor=ANCHOR)
    second = build_trigger({"type": "cron", "expression": "* * * * *"}, timezone="UTC", anchor=LATER)

    # Each is wrapped in its time budget (beat_store.triggers.budget); the trigger inside is the one cached.
    assert first.trigger is second.trigger  # type: ignore[attr-defined]


def test_interval_triggers_keep_their_own_anchor() -> None:
    first = build_trigger({"type": "interval", "seconds": 60}, timezone="UTC", anchor=ANCHOR)
    second = build_trigger({"type": "interval", "seconds": 60}, timezone="UTC", anchor=LATER)

    assert first.next_at_or_after(ANCHOR) == ANCHOR
    assert second.next_at_or_after(ANCHOR) == LATER


def test_a_combination_holding_an_interval_keeps_its_anchor() -> None:
    spec = {"type": "or", "triggers": [{"type": "cron", "hour": "3"}, {"type": "interval", "hours": 1}]}

    first = build_trigger(spec, timezone="UTC", anchor=ANCHOR)
    second = build_trigger(spec, timezone="UTC", anchor=LATER)

    assert first.next_at_or_after(ANCHOR) == ANCHOR
    assert second.next_at_or_after(ANCHOR) == LATER
