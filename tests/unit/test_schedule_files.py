"""Reading BEAT_STORE_SCHEDULE_FILES without a database: where paths point, what each file declares, and what is
refused with which words (the file, the schedule or section, the field and the reason)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import override_settings

from beat_store.schedule_files import listed_paths, read_schedule_files, resolve_path

NIGHTLY_INI = """
[nightly]
call = tests.add
at = 03:30
timezone = Europe/Paris
description = Adds at night
x = 1
y = 2
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_relative_path_counts_from_base_dir(tmp_path: Path) -> None:
    with override_settings(BASE_DIR=tmp_path):
        assert resolve_path("config/scheduler.ini") == tmp_path / "config" / "scheduler.ini"


def test_a_relative_path_counts_from_the_current_directory_without_base_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with override_settings():
        from django.conf import settings

        del settings.BASE_DIR
        assert resolve_path("scheduler.ini") == tmp_path / "scheduler.ini"


def test_an_absolute_path_is_kept_and_a_single_path_is_a_list_of_one(tmp_path: Path) -> None:
    with override_settings(BASE_DIR="/elsewhere", BEAT_STORE_SCHEDULE_FILES=str(tmp_path / "a.ini")):
        assert listed_paths() == [tmp_path / "a.ini"]


def test_an_ini_file_declares_its_sections_with_defaults_for_what_it_omits(tmp_path: Path) -> None:
    path = write(tmp_path / "scheduler.ini", NIGHTLY_INI)

    with override_settings(BEAT_STORE_SCHEDULE_FILES=[str(path)]):
        declarations = read_schedule_files()

    assert list(declarations.schedules) == ["nightly"]
    nightly = declarations.schedules["nightly"]
    assert nightly.path == str(path)
    assert nightly.fields["task"] == "tests.add"
    assert nightly.fields["trigger"]["type"] == "cron"
    assert nightly.fields["timezone"] == "Europe/Paris"
    assert nightly.fields["kwargs"] == {"x": 1, "y": 2}
    # Omitted fields are written back to their defaults, so deleting a line undoes it...
    assert nightly.fields["start_at"] is None
    assert nightly.fields["coalesce"] is None  # unset: the task's default (BEAT_STORE_TASK_DEFAULTS) applies
    # ...but not `paused`: a pause made in the admin survives a sync unless the file says otherwise.
    assert "paused" not in nightly.fields
    assert not declarations.refused
    assert not declarations.unreadable


def test_json_and_yaml_files_are_read_by_their_extension(tmp_path: Path) -> None:
    record = {"name": "from-json", "task": "tests.add", "trigger": {"type": "interval", "seconds": 5}}
    json_file = write(tmp_path / "a.json", json.dumps({"version": 2, "schedules": [record]}))
    yaml_file = write(
        tmp_path / "b.yml",
        "schedules:\n  - name: from-yaml\n    task: tests.add\n    trigger: {type: interval, seconds: 7}\n",
    )

    with override_settings(BEAT_STORE_SCHEDULE_FILES=[str(json_file), str(yaml_file)]):
        declarations = read_schedule_files()

    assert sorted(declarations.schedules) == ["from-json", "from-yaml"]
    assert declarations.schedules["from-yaml"].fields["trigger"] == {"type": "interval", "seconds": 7}


def test_a_name_in_settings_wins_over_a_file_and_the_first_file_over_a_later_one(tmp_path: Path) -> None:
    first = write(tmp_path / "first.ini", "[shared]\ncall = tests.add\nevery = 1 minute\n")
    second = write(
        tmp_path / "second.ini",
        "[shared]\ncall = tests.add\nevery = 2 minutes\n[mine]\ncall = tests.add\nevery = 3 minutes\n",
    )
    third = write(tmp_path / "third.ini", "[mine]\ncall = tests.add\nevery = 4 minutes\n")

    with override_settings(BEAT_STORE_SCHEDULE_FILES=[str(first), str(second), str(third)]):
        declarations = read_schedule_files(taken={"mine"})

    assert declarations.schedules["shared"].path == str(first)
    assert declarations.schedules["shared"].fields["trigger"] == {"type": "interval", "minutes": 1}
    assert "mine" not in declarations.schedules
    assert declarations.refused == {
        f"{second}, schedule 'shared'": f"also declared in {first}; the first declaration wins",
        f"{second}, schedule 'mine'": "also declared in settings, which wins",
        f"{third}, schedule 'mine'": "also declared in settings, which wins",
    }


def test_a_name_twice_in_one_json_file_is_refused_after_its_first_declaration(tmp_path: Path) -> None:
    records = [
        {"name": "twice", "task": "tests.add", "trigger": {"type": "interval", "seconds": 5}},
        {"name": "twice", "task": "tests.add", "trigger": {"type": "interval", "seconds": 9}},
    ]
    path = write(tmp_path / "twice.json", json.dumps(records))

    with override_settings(BEAT_STORE_SCHEDULE_FILES=[str(path)]):
        declarations = read_schedule_files()

    assert declarations.schedules["twice"].fields["trigger"] == {"type": "interval", "seconds": 5}
    assert declarations.refused == {
        f"{path}, schedule 'twice'": "declared twice in this file; the first declaration wins"
    }


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("missing.ini", None, "missing.ini: cannot read it: No such file or directory"),
        ("broken.ini", "[a\ncall = x\n", "broken.ini: not a valid INI file"),
        (
            "nocall.ini",
            "[report]\nevery = 5 minutes\n",
            "nocall.ini: [report]: 'call = dotted.task.name' (or 'callback = ...') is required",
        ),
        ("badunit.ini", "[report]\ncall = t\nevery = 5 fortnights\n", "badunit.ini: [report]"),
        ("notes.txt", "[report]\n", "notes.txt: cannot tell the format"),
        ("bad.json", "{", "bad.json: not valid JSON"),
    ],
    ids=[
        "a missing file",
        "an INI syntax error",
        "a section without call",
        "an unknown unit",
        "no known extension",
        "a JSON syntax error",
    ],
)
def test_a_file_that_cannot_be_read_is_named_with_the_section_and_reason(
    tmp_path: Path, name: str, text: str | None, expected: str
) -> None:
    path = tmp_path / name
    if text is not None:
        write(path, text)

    with override_settings(BEAT_STORE_SCHEDULE_FILES=[str(path)]):
        declarations = read_schedule_files()

    assert not declarations.schedules
    assert list(declarations.unreadable) == [str(path)]
    assert declarations.unreadable[str(path)].startswith(f"{tmp_path}/{expected}")


def test_a_bad_record_is_refused_by_name_and_field_and_the_others_are_read(tmp_path: Path) -> None:
    records = [
        {"name": "good", "task": "tests.add", "trigger": {"type": "interval", "seconds": 5}},
        {"name": "no-trigger", "task": "tests.add"},
        {"name": "odd", "task": "tests.add", "trigger": {"type": "interval", "seconds": 5}, "colour": "red"},
        {"task": "tests.add", "trigger": {"type": "interval", "seconds": 5}},
    ]
    path = write(tmp_path / "mixed.json", json.dumps(records))

    with override_settings(BEAT_STORE_SCHEDULE_FILES=[str(path)]):
        declarations = read_schedule_files()

    assert list(declarations.schedules) == ["good"]
    assert declarations.refused[f"{path}, schedule 'no-trigger'"] == "the field 'trigger' is required"
    assert declarations.refused[f"{path}, schedule 'odd'"] == "unknown field(s) colour"
    assert declarations.refused[f"{path}, record #4"].startswith("a schedule has no 'name'")
    assert declarations.refused_names == {"no-trigger", "odd"}
    # A record without a name cannot be matched to its stored row: the whole file's rows are kept.
    assert declarations.incomplete == {str(path)}


def test_a_path_too_long_to_store_is_refused_as_unreadable(tmp_path: Path) -> None:
    path = tmp_path / ("d" * 250) / ("f" * 250 + ".ini")

    with override_settings(BEAT_STORE_SCHEDULE_FILES=[str(path)]):
        declarations = read_schedule_files()

    assert declarations.unreadable == {str(path): f"{path}: the path is longer than 500 characters"}
