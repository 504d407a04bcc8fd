"""Operators act on open runs from the admin: mark lost (frees the max-instances slot) and revoke (stops the
task through Celery's control API), with a permission of their own, recorded in the admin's history (#14)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import Celery
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from beat_store.api import add_schedule
from beat_store.enums import ExecutionStatus as S
from beat_store.models import Execution
from tests.celery_app import app as tests_app
from tests.integration.processes import CeleryProcesses, wait_for_run, wait_until
from tests.integration.records import execution_of

EXECUTIONS_URL = reverse("admin:beat_store_execution_changelist")


@pytest.fixture
def celery_app() -> Celery:
    tests_app.set_current()
    return tests_app


def run(status: str, *, name: str = "job", seconds_ago: int = 0) -> Execution:
    schedule = add_schedule(name, "tests.add", {"type": "interval", "seconds": 60}, max_instances=5)
    execution = execution_of(schedule, timezone.now() - timedelta(seconds=seconds_ago), status)
    execution.save()
    return execution


def act(client: Client, action: str, *runs: Execution) -> str:
    response = client.post(
        EXECUTIONS_URL, {"action": action, "_selected_action": [str(r.pk) for r in runs]}, follow=True
    )
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.django_db
def test_mark_lost_closes_open_runs_only_and_records_who_did_it(admin_client: Client, celery_app: Celery) -> None:
    started = run(S.STARTED)
    finished = run(S.SUCCEEDED, seconds_ago=60)

    page = act(admin_client, "mark_lost_action", started, finished)
    started.refresh_from_db()
    finished.refresh_from_db()

    assert (started.status, started.result) == (S.LOST, "marked lost by admin (admin)")
    assert started.finished_at is not None
    assert finished.status == S.SUCCEEDED
    assert "1 run(s) marked lost. 1 left as they were" in page
    entry = LogEntry.objects.get(object_id=str(started.pk))
    assert entry.user.username == "admin"
    assert "Marked lost (started before)" in entry.get_change_message()


@pytest.mark.django_db
def test_revoking_a_pending_run_means_it_is_never_sent(admin_client: Client, celery_app: Celery) -> None:
    pending = run(S.PENDING)

    act(admin_client, "revoke_action", pending)
    pending.refresh_from_db()

    assert (pending.status, pending.result) == (S.REVOKED, "revoked by admin (admin)")
    assert not Execution.objects.filter(status=S.PENDING).exists()


@pytest.mark.django_db
def test_the_actions_need_their_own_permission(client: Client, celery_app: Celery) -> None:
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_execution"))
    client.force_login(viewer)
    started = run(S.STARTED)

    page = client.get(EXECUTIONS_URL).content.decode()
    act(client, "mark_lost_action", started)
    started.refresh_from_db()

    assert "mark_lost_action" not in page
    assert "revoke_action" not in page
    assert started.status == S.STARTED


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis
def test_marking_a_stuck_run_lost_lets_the_next_fire_time_run(
    admin_client: Client, celery_app: Celery, celery_processes: CeleryProcesses
) -> None:
    add_schedule("slow", "tests.sleep", {"type": "interval", "seconds": 2}, args=[600], max_instances=1)
    celery_processes.start_worker()
    celery_processes.start_beat()
    stuck = wait_for_run("slow", S.STARTED)
    wait_until(
        lambda: Execution.objects.filter(schedule_name="slow", status=S.SKIPPED).exists(),
        timeout=30,
        message="a later fire time skipped at max instances",
    )

    act(admin_client, "mark_lost_action", stuck)
    marked_at = timezone.now()
    after = wait_until(
        lambda: Execution.objects.filter(
            schedule_name="slow", fire_time__gt=marked_at, status__in=(S.SENT, S.STARTED)
        ).first(),
        timeout=30,
        message="a fire time after the mark to be sent",
    )

    assert after.pk != stuck.pk


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis
def test_revoking_a_running_run_stops_its_task_on_the_worker(
    admin_client: Client, celery_processes: CeleryProcesses, redis_url: str
) -> None:
    admin_side = Celery("admin-side", broker=redis_url, set_as_current=True)  # talks to the workers over Redis
    try:
        soon = timezone.now() + timedelta(seconds=1)
        add_schedule("long", "tests.sleep", {"type": "date", "run_at": soon.isoformat()}, args=[600])
        celery_processes.start_worker(extra_args=("--pool=prefork",))
        celery_processes.start_beat()
        running = wait_for_run("long", S.STARTED)

        page = act(admin_client, "revoke_action", running)
        wait_until(
            lambda: f"Terminating {running.task_id}" in celery_processes.logs(),
            timeout=20,
            message="the worker to terminate the task",
        )
    finally:
        admin_side.close()
        tests_app.set_current()
    running.refresh_from_db()

    assert "could not be told" not in page
    assert (running.status, running.result) == (S.REVOKED, "revoked by admin (admin)")
