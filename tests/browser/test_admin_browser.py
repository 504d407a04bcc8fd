"""The admin in a real headless Chromium (Debian's package, driven by Playwright) against the live server.

Locally the tests skip when Chromium or Playwright is missing; under CI=true they fail instead
(scripts/install-browser.sh installs Chromium). Their screenshots go to a scratch folder, to look at after a
failure; the docs' own come from the example project (scripts/take-screenshots.py).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from beat_store.enums import ExecutionStatus, ScheduleSource
from beat_store.models import Execution, Schedule
from tests.celery_app import app as tests_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(tempfile.gettempdir()) / "beat_store-screenshots"
PASSWORD = "correct horse battery staple"

# Playwright's sync API runs an event loop in this thread; the ORM calls of the test itself are still
# synchronous, so Django's async-safety guard must be told so.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run; see scripts/install-browser.sh)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install playwright)")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: run scripts/install-browser.sh")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A logged-in admin page; the live server's thread sends with the tests' memory:// Celery app."""
    tests_app.set_default()
    tests_app.set_current()
    User.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    yield page
    context.close()


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def seed_history() -> None:
    """A few schedules with runs, so the list and the chart show every colour."""
    now = timezone.now().replace(microsecond=0)
    report = Schedule.objects.create(
        name="hourly export",
        task="tests.add",
        trigger={"type": "cron", "expression": "0 * * * *"},
        timezone="America/New_York",
        description="Exports orders",
    )
    Schedule.objects.create(
        name="cleanup",
        task="tests.fail",
        trigger={"type": "interval", "minutes": 15},
        paused=True,
    )
    Schedule.objects.create(
        name="month end",
        task="tests.add",
        source=ScheduleSource.SETTINGS,
        trigger={"type": "calendarinterval", "months": 1, "hour": 6},
        timezone="Asia/Tokyo",
    )
    statuses = [ExecutionStatus.SUCCEEDED] * 5 + [ExecutionStatus.FAILED, ExecutionStatus.MISSED]
    for hour in range(24):
        fire_time = now - timedelta(hours=24 - hour)
        status = statuses[hour % len(statuses)]
        finished = status in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)
        Execution.objects.create(
            schedule=report,
            schedule_name=report.name,
            task=report.task,
            fire_time=fire_time,
            send_at=fire_time,
            task_id=f"export-{hour}",
            status=status,
            sent_at=fire_time if finished else None,
            started_at=fire_time + timedelta(seconds=1) if finished else None,
            finished_at=fire_time + timedelta(seconds=2 + (hour * 7) % 30) if finished else None,
            worker="celery@worker-1" if finished else "",
            result="42" if status == ExecutionStatus.SUCCEEDED else "",
            exception="ValueError('boom')" if status == ExecutionStatus.FAILED else "",
        )


def test_create_preview_save_and_run_a_cron_schedule(page: Any) -> None:
    seed_history()

    page.goto("/admin/beat_store/schedule/add/")
    page.fill("#id_name", "weekday report")
    page.fill("#id_task", "tests.add")
    page.select_option("#id_trigger-kind", "cron")
    page.fill("#id_trigger-cron_expression", "0 9 * * mon-fri")
    page.fill("#id_timezone", "Europe/Paris")
    page.fill("#id_args", "[2, 3]")
    page.wait_for_selector(".beat-store-fire-times li")  # the live preview, with no click

    fire_times = page.locator(".beat-store-fire-times li")
    assert fire_times.count() == 10
    assert "09:00:00 CE" in fire_times.first.inner_text()
    assert page.locator(".beat-store-description").inner_text() == "At 09:00, Monday through Friday (Europe/Paris)"
    assert not Schedule.objects.filter(name="weekday report").exists()
    assert page.locator("#id_trigger-interval_hours").is_hidden()  # only the chosen kind's fields show
    screenshot(page, "schedule-form-preview.png")

    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    assert Schedule.objects.get(name="weekday report").trigger == {
        "type": "cron",
        "expression": "0 9 * * mon-fri",
    }

    page.click("button[name=run_now]")
    page.wait_for_selector(".beat-store-executions")
    message = page.locator(".messagelist li").first.inner_text()
    assert message.startswith("Sent a run of 'weekday report' to Celery (task id ")
    assert page.locator(".beat-store-executions tbody tr").count() == 1
    assert page.locator(".beat-store-executions .beat-store-status").inner_text() == "sent"

    page.goto("/admin/beat_store/execution/")
    assert page.locator("#result_list tbody tr", has_text="weekday report").count() == 1
    screenshot(page, "execution-list.png")

    page.goto("/admin/beat_store/schedule/")
    assert page.locator("#result_list tbody tr").count() == 4
    screenshot(page, "schedule-list.png")


def test_saving_an_invalid_cron_shows_the_error_next_to_the_field(page: Any) -> None:
    schedule = Schedule.objects.create(
        name="every five minutes", task="tests.add", trigger={"type": "cron", "expression": "*/5 * * * *"}
    )

    page.goto(f"/admin/beat_store/schedule/{schedule.pk}/change/")
    page.fill("#id_trigger-cron_expression", "61 * * * *")
    page.click("input[name=_save]")
    page.wait_for_selector(".errornote")

    field = page.locator(".beat-store-trigger-field.errors", has=page.locator("#id_trigger-cron_expression"))
    assert "higher than the maximum value (59)" in field.locator(".errorlist").inner_text()
    # Only the wrong field is red, not every input of the trigger editor.
    assert border_colour(page, "#id_trigger-cron_expression") == ERROR_RED
    assert border_colour(page, "#id_trigger-cron_hour") != ERROR_RED
    page.wait_for_selector("#beat-store-preview .errorlist li")  # the preview says it too, beside the fields
    assert "Minute field '61'" in page.locator("#beat-store-preview .errorlist").inner_text()
    assert page.locator(".errornote").is_visible()
    schedule.refresh_from_db()
    assert schedule.trigger == {"type": "cron", "expression": "*/5 * * * *"}
    screenshot(page, "schedule-form-error.png")


ERROR_RED = "rgb(186, 33, 33)"  # Django admin's --error-fg


def border_colour(page: Any, selector: str) -> str:
    return str(page.locator(selector).evaluate("node => getComputedStyle(node).borderTopColor"))


def test_a_date_trigger_is_picked_with_djangos_date_and_time_widgets(page: Any) -> None:
    page.goto("/admin/beat_store/schedule/add/")
    page.fill("#id_name", "once")
    page.fill("#id_task", "tests.add")
    page.fill("#id_timezone", "Europe/Paris")
    page.select_option("#id_trigger-kind", "date")

    date_box = page.locator("#id_trigger-date_run_at_0")
    shortcuts = page.locator(".beat-store-kind[data-kind=date]", has=date_box).locator(".datetimeshortcuts")
    assert "vDateField" in (date_box.get_attribute("class") or "")
    assert shortcuts.count() == 2  # "Today | calendar" and "Now | clock", as for Start and End
    date_box.fill("2030-12-01")
    page.fill("#id_trigger-date_run_at_1", "09:00:00")
    page.wait_for_function("document.querySelectorAll('.beat-store-fire-times li').length === 1")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    assert Schedule.objects.get(name="once").trigger == {"type": "date", "run_at": "2030-12-01T09:00:00"}


def test_schedule_page_shows_the_run_chart(page: Any) -> None:
    seed_history()
    schedule = Schedule.objects.get(name="hourly export")

    page.goto(f"/admin/beat_store/schedule/{schedule.pk}/change/")

    assert page.locator("svg.beat-store-chart rect.beat-store-bar").count() == 24
    assert page.locator("svg.beat-store-chart rect[data-status=failed]").count() >= 3
    screenshot(page, "schedule-change-chart.png")


def test_the_preview_follows_the_trigger_as_the_user_types_next_to_its_fields(page: Any) -> None:
    page.goto("/admin/beat_store/schedule/add/")
    box = page.locator("#beat-store-preview")
    # Moved right after the fieldset holding the trigger editor, far above the bottom of the form.
    assert box.evaluate("node => node.previousElementSibling.contains(document.getElementById('id_trigger-kind'))")

    page.select_option("#id_trigger-kind", "cron")
    page.fill("#id_timezone", "UTC")
    page.fill("#id_trigger-cron_expression", "*/10 * * * *")
    page.wait_for_function("document.querySelector('.beat-store-description').textContent.includes('10 minutes')")
    minutes = {text.split(":")[1] for text in page.locator(".beat-store-fire-times li").all_inner_texts()}

    page.fill("#id_trigger-cron_expression", "0 25 * * *")
    page.wait_for_selector("#beat-store-preview .errorlist li")
    error = page.locator("#beat-store-preview .errorlist li").inner_text()

    assert minutes <= {"00", "10", "20", "30", "40", "50"}
    assert error.startswith("Crontab expression: Hour field '25'")
    assert page.locator(".beat-store-fire-times li").count() == 0
    assert page.url.endswith("/admin/beat_store/schedule/add/")  # nothing was submitted
    assert not Schedule.objects.exists()


def test_pause_and_resume_in_place_from_the_schedule_list(page: Any) -> None:
    Schedule.objects.create(name="every minute", task="tests.add", trigger={"type": "cron", "expression": "* * * * *"})
    row = page.locator("#result_list tbody tr", has_text="every minute")

    page.goto("/admin/beat_store/schedule/?q=every")
    row.locator("button.beat-store-toggle", has_text="Pause").click()
    page.wait_for_selector(".messagelist .success")
    paused = Schedule.objects.get(name="every minute").paused
    state_after_pause = row.locator("td.field-state_with_toggle").inner_text()
    row.locator("button.beat-store-toggle", has_text="Resume").click()
    page.wait_for_selector(".messagelist .success")

    assert paused
    assert state_after_pause.startswith("paused")
    assert page.url.endswith("/admin/beat_store/schedule/?q=every")
    assert not Schedule.objects.get(name="every minute").paused


def test_execution_list_fits_1400_px_filters_and_prunes_without_a_selection(page: Any) -> None:
    seed_history()
    long_name = Schedule.objects.create(  # as in the example project
        name="heartbeat-from-celery-settings", task="tests.fail", trigger={"type": "interval", "seconds": 30}
    )
    now = timezone.now()
    Execution.objects.create(
        schedule=long_name,
        schedule_name=long_name.name,
        task=long_name.task,
        fire_time=now,
        send_at=now,
        task_id="long",
        status=ExecutionStatus.FAILED,
        started_at=now,
        finished_at=now,
        worker="celery@worker-1.example.com",
        exception="RuntimeError('this task always fails, to show a traceback in the admin')",
    )
    slow = Schedule.objects.create(
        name="slow-every-20-seconds", task="tests.slow", trigger={"type": "interval", "seconds": 20}
    )
    Execution.objects.create(  # the example's skipped run: no start, no worker, a long reason
        schedule=slow,
        schedule_name=slow.name,
        task=slow.task,
        fire_time=now,
        send_at=now,
        task_id="skipped",
        status=ExecutionStatus.SKIPPED,
        finished_at=now,
        result="1 of max 1 instances still running",
    )
    Execution.objects.create(  # the example's retrying run: a long word that only breaks inside
        schedule=slow,
        schedule_name=slow.name,
        task=slow.task,
        fire_time=now - timedelta(seconds=20),
        send_at=now,
        task_id="retrying",
        status=ExecutionStatus.RETRYING,
        started_at=now,
        worker="celery@worker-1.example.com",
        result="Retry in 2s: ConnectionError('flaky upstream')",
    )
    page.set_viewport_size({"width": 1400, "height": 900})

    page.goto("/admin/beat_store/execution/")
    overflow = sideways_overflow(page)
    sidebar = page.locator("#changelist-filter").inner_text()
    page.locator("#changelist-filter a", has_text="hourly export").click()
    page.wait_for_url("**/execution/?schedule__id__exact=*")
    filtered_rows = page.locator("#result_list tbody tr").count()
    page.select_option("select[name=action]", "prune_action")
    page.click("button[name=index]")
    page.wait_for_url("**/execution/prune/")

    assert overflow == 0
    assert "By schedule" in sidebar
    assert "By task" in sidebar
    assert filtered_rows == 24
    assert page.locator("h1").inner_text() == "Prune executions"


def sideways_overflow(page: Any) -> int:
    """How many pixels of the result table need scrolling sideways (Django scrolls its container, not the page)."""
    return int(
        page.evaluate(
            "(() => { const box = document.querySelector('#changelist .results'); "
            "return box.scrollWidth - box.clientWidth; })()"
        )
    )


def test_schedule_list_fits_1400_px(page: Any) -> None:
    seed_history()
    Schedule.objects.create(  # long names, as in the example project
        name="weekday-mornings-or-every-6-hours",
        task="celery.backend_cleanup",
        trigger={"type": "interval", "hours": 6},
        source=ScheduleSource.CODE,
        paused=True,
    )
    page.set_viewport_size({"width": 1400, "height": 900})

    page.goto("/admin/beat_store/schedule/")

    assert sideways_overflow(page) == 0


def test_the_prune_button_leads_to_the_prune_page(page: Any) -> None:
    page.goto("/admin/beat_store/execution/")

    page.click("text=Prune old executions")
    page.wait_for_url("**/execution/prune/")

    assert page.locator("h1").inner_text() == "Prune executions"


def test_an_and_trigger_with_a_member_in_its_own_zone_is_built_in_the_editor(page: Any) -> None:
    page.goto("/admin/beat_store/schedule/add/")
    page.fill("#id_name", "new york mornings")
    page.fill("#id_task", "tests.add")
    page.fill("#id_timezone", "Europe/Paris")

    page.select_option("#id_trigger-kind", "and")
    page.select_option("#id_trigger_members-0-kind", "cron")
    page.fill("#id_trigger_members-0-cron_expression", "0 9 * * 1-5")
    page.fill("#id_trigger_members-0-member_timezone", "America/New_York")
    page.fill("#id_trigger_members-0-member_start_at", "2026-01-01 00:00")
    page.select_option("#id_trigger_members-1-kind", "cron")
    page.fill("#id_trigger_members-1-cron_expression", "* * * * *")
    page.fill("#id_trigger-and_threshold", "30")

    assert page.locator("#id_trigger-and_max_iterations").is_visible()  # the 'and' options show for 'and'
    assert page.locator("#id_trigger_members-0-member_timezone").is_visible()
    page.select_option("#id_trigger_members-1-kind", "")
    assert page.locator("#id_trigger_members-1-member_timezone").is_hidden()  # an unused member has no options
    page.select_option("#id_trigger_members-1-kind", "cron")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    assert Schedule.objects.get(name="new york mornings").trigger == {
        "type": "and",
        "triggers": [
            {
                "type": "cron",
                "expression": "0 9 * * 1-5",
                "start_at": "2026-01-01T00:00:00",
                "timezone": "America/New_York",
            },
            {"type": "cron", "expression": "* * * * *"},
        ],
        "threshold": 30,
    }
