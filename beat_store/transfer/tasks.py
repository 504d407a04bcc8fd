"""What an INI file's schedules learn from the Celery app: which tasks exist, and their docstrings (for
``beat_store_import`` and for the files beat syncs, ``beat_store.schedule_files``).

superdjango's ``scheduler.ini`` leaves out a job whose callback does not exist ("A nonexistent callback will
not make it into the schedule") and describes a job by its callback's docstring when the section has no
``description``. beat_store keeps both rules for INI files: a superdjango callback becomes the Celery task
named by its dotted path (Celery's default name for a task defined there).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from celery import Task

from beat_store.transfer.importing import ScheduleDraft, Unsupported

#: Said once per import when the check cannot be made.
NO_TASKS_WARNING = (
    "the Celery app registers no tasks (is the project's Celery app imported, e.g. from proj/__init__.py?): "
    "task names were not checked and no description was taken from a docstring"
)


@dataclass
class TaskCheck:
    """Drafts whose task is registered, the sections left out and why, and a warning when nothing was checked."""

    kept: list[ScheduleDraft] = field(default_factory=list)
    left_out: list[Unsupported] = field(default_factory=list)
    warning: str | None = None


def check_tasks(
    drafts: Sequence[ScheduleDraft], tasks: Mapping[str, Any], *, keep_unregistered: bool = False
) -> TaskCheck:
    """Leave out the drafts whose task is not in ``tasks`` (unless ``keep_unregistered``:
    ``BEAT_STORE_ALLOW_UNREGISTERED_TASKS``, for a process that does not import every task module); describe the
    others by their docstring if blank.

    Celery registers its own ``celery.*`` tasks in every app, so an app with nothing else is taken for "no
    Celery app configured" (the command runs with Celery's default app): dropping every section then would
    empty the import for a setup problem, so every draft is kept and one warning says the check was not made.
    """
    if not any(not name.startswith("celery.") for name in tasks):
        return TaskCheck(kept=list(drafts), warning=NO_TASKS_WARNING if drafts else None)
    check = TaskCheck()
    for draft in drafts:
        task_name = draft.fields["task"]
        if task_name not in tasks and not keep_unregistered:
            reason = f"the task {task_name!r} is not registered in the Celery app; the section is left out"
            check.left_out.append(Unsupported(draft.name, reason))
            continue
        if task_name in tasks and not str(draft.fields.get("description") or "").strip():
            summary = docstring_summary(tasks[task_name])
            if summary:
                draft.fields["description"] = summary
        check.kept.append(draft)
    return check


def docstring_summary(task: Any) -> str:
    """The first paragraph of a task's docstring, its lines joined by spaces; empty when it has none."""
    # Celery copies the function's docstring onto the task class; a task without one has Task's own, unwanted.
    doc = getattr(task, "__doc__", None)
    if not isinstance(doc, str) or doc == _BASE_TASK_DOC:
        return ""
    paragraph = inspect.cleandoc(doc).split("\n\n", 1)[0]
    return " ".join(line.strip() for line in paragraph.splitlines() if line.strip())


_BASE_TASK_DOC = Task.__doc__
