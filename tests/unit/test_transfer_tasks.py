"""INI imports against the Celery app's registry: unregistered tasks left out, descriptions from docstrings."""

from __future__ import annotations

from typing import Any

from celery import Celery

from beat_store.transfer.importing import ScheduleDraft, Unsupported
from beat_store.transfer.tasks import NO_TASKS_WARNING, check_tasks, docstring_summary

app = Celery("transfer_tasks_tests", set_as_current=False)


@app.task(name="proj.tasks.documented", shared=False)
def documented() -> None:
    """Cleans the caches
    of every site.

    Details nobody needs in a list of schedules.
    """


@app.task(name="proj.tasks.undocumented", shared=False)
def undocumented() -> None:
    pass


def _draft(name: str, task: str, **fields: Any) -> ScheduleDraft:
    return ScheduleDraft(name=name, fields={"task": task, "trigger": {"type": "interval", "hours": 1}, **fields})


def _tasks() -> dict[str, Any]:
    return dict(app.tasks)


def test_a_task_the_app_does_not_register_is_left_out_with_its_reason_and_the_others_kept() -> None:
    drafts = [_draft("kept", "proj.tasks.undocumented"), _draft("gone", "proj.tasks.missing")]

    check = check_tasks(drafts, _tasks())

    assert [draft.name for draft in check.kept] == ["kept"]
    assert check.left_out == [
        Unsupported(
            "gone", "the task 'proj.tasks.missing' is not registered in the Celery app; the section is left out"
        )
    ]
    assert check.warning is None


def test_a_missing_description_is_the_first_paragraph_of_the_docstring_on_one_line() -> None:
    (draft,) = check_tasks([_draft("clean", "proj.tasks.documented")], _tasks()).kept

    assert draft.fields["description"] == "Cleans the caches of every site."


def test_a_description_given_is_kept_and_a_task_without_docstring_leaves_it_out() -> None:
    given = _draft("given", "proj.tasks.documented", description="Ours")
    blank = _draft("blank", "proj.tasks.undocumented")

    kept = check_tasks([given, blank], _tasks()).kept

    assert kept[0].fields["description"] == "Ours"
    assert "description" not in kept[1].fields


def test_docstring_summary_ignores_celerys_own_task_docstring() -> None:
    assert docstring_summary(app.tasks["proj.tasks.undocumented"]) == ""


def test_an_app_with_only_celerys_own_tasks_keeps_every_draft_and_warns_once() -> None:
    only_celery = {name: task for name, task in _tasks().items() if name.startswith("celery.")}
    drafts = [_draft("a", "proj.tasks.missing"), _draft("b", "proj.tasks.other")]

    check = check_tasks(drafts, only_celery)

    assert only_celery  # the case is Celery's default app: its built-in tasks, nothing else
    assert (check.kept, check.left_out, check.warning) == (drafts, [], NO_TASKS_WARNING)
    assert "description" not in check.kept[0].fields


def test_no_warning_when_there_is_nothing_to_check() -> None:
    assert check_tasks([], {}).warning is None
