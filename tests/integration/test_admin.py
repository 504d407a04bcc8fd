"""The admin through Django's test client: forms, preview, actions, permissions, executions, pruning."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from celery import Celery
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from beat_store.enums import ExecutionStatus, ScheduleSource
from beat_store.models import Execution, Schedule
from tests.celery_app import app as tests_app

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:beat_store_schedule_add")
LIST_URL = reverse("admin:beat_store_schedule_changelist")
EXECUTIONS_URL = reverse("admin:beat_store_execution_changelist")


@pytest.fixture(autouse=True)
def celery_app() -> Celery:
    """The test suite's app (memory:// broker, tests.* tasks) is the one the admin reads and sends with."""
    tests_app.set_current()
    return tests_app


def form_data(**overrides: Any) -> dict[str, Any]:
    """A valid add-form POST: a cron schedule of tests.add; ``overrides`` replace or add fields."""
    data = {
        "name": "nightly report",
        "description": "",
        "task": "tests.add",
        "trigger-kind": "cron",
        "trigger-cron_expression": "0 9 * * mon-fri",
        "trigger_members-TOTAL_FORMS": "2",
        "trigger_members-INITIAL_FORMS": "0",
        "trigger_members-MIN_NUM_FORMS": "0",
        "trigger_members-MAX_NUM_FORMS": "20",
        "timezone": "Europe/Paris",
        "args": "[1, 2]",
        "kwargs": "{}",
        "headers": "{}",
        "coalesce": "latest",
        "misfire_grace_time": "",
        "max_instances": "1",
        "jitter": "",
        "queue": "",
        "exchange": "",
        "routing_key": "",
        "priority": "",
        "expires": "",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def make_schedule(name: str = "every minute", **fields: Any) -> Schedule:
    values: dict[str, Any] = {
        "task": "tests.add",
        "trigger": {"type": "cron", "expression": "* * * * *"},
        "args": [1, 2],
    }
    values.update(fields)
    return Schedule.objects.create(name=name, **values)


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def add_execution(
    schedule: Schedule, *, minutes_ago: int, status: str = ExecutionStatus.SUCCEEDED, **fields: Any
) -> Execution:
    fire_time = timezone.now().replace(microsecond=0) - timedelta(minutes=minutes_ago)
    values: dict[str, Any] = {
        "schedule": schedule,
        "schedule_name": schedule.name,
        "task": schedule.task,
        "fire_time": fire_time,
        "send_at": fire_time,
        "task_id": f"{schedule.name}-{minutes_ago}",
        "status": status,
    }
    values.update(fields)
    return Execution.objects.create(**values)


# --- add/change form --------------------------------------------------------------------------------------


def test_add_form_creates_a_cron_schedule_from_plain_fields(admin_client: Client) -> None:
    response = admin_client.post(ADD_URL, form_data())

    assert response.status_code == 302, response.content.decode()[:3000]
    schedule = Schedule.objects.get(name="nightly report")
    assert schedule.trigger == {"type": "cron", "expression": "0 9 * * mon-fri"}
    assert schedule.args == [1, 2]
    assert schedule.source == ScheduleSource.ADMIN
    assert schedule.next_fire_at is not None


@pytest.mark.parametrize(
    ("overrides", "expected_spec"),
    [
        (
            {"trigger-cron_expression": "", "trigger-cron_hour": "9", "trigger-cron_day_of_week": "mon-fri"},
            {"type": "cron", "day_of_week": "mon-fri", "hour": "9"},
        ),
        (
            {"trigger-kind": "interval", "trigger-interval_minutes": "30"},
            {"type": "interval", "weeks": 0, "days": 0, "hours": 0, "minutes": 30, "seconds": 0},
        ),
        (
            {"trigger-kind": "date", "trigger-date_run_at": "2030-12-01 09:00"},
            {"type": "date", "run_at": "2030-12-01T09:00:00"},
        ),
        (
            {
                "trigger-kind": "calendarinterval",
                "trigger-calendar_months": "1",
                "trigger-calendar_hour": "10",
            },
            {
                "type": "calendarinterval",
                "years": 0,
                "months": 1,
                "weeks": 0,
                "days": 0,
                "hour": 10,
                "minute": 0,
                "second": 0,
            },
        ),
        (
            {
                "trigger-kind": "or",
                "trigger_members-0-kind": "cron",
                "trigger_members-0-cron_expression": "0 9 * * *",
                "trigger_members-1-kind": "interval",
                "trigger_members-1-interval_hours": "6",
            },
            {
                "type": "or",
                "triggers": [
                    {"type": "cron", "expression": "0 9 * * *"},
                    {"type": "interval", "weeks": 0, "days": 0, "hours": 6, "minutes": 0, "seconds": 0},
                ],
            },
        ),
        (
            {
                "trigger-kind": "and",
                "trigger_members-0-kind": "calendarinterval",
                "trigger_members-0-calendar_months": "2",
                "trigger_members-0-calendar_hour": "10",
                "trigger_members-1-kind": "spec",
                "trigger_members-1-spec_json": '{"type": "cron", "day_of_week": "mon-fri", "hour": "10"}',
            },
            {
                "type": "and",
                "triggers": [
                    {
                        "type": "calendarinterval",
                        "years": 0,
                        "months": 2,
                        "weeks": 0,
                        "days": 0,
                        "hour": 10,
                        "minute": 0,
                        "second": 0,
                    },
                    {"type": "cron", "day_of_week": "mon-fri", "hour": "10"},
                ],
            },
        ),
    ],
    ids=[
        "cron from APScheduler fields",
        "interval from its parts",
        "date from a wall time",
        "calendar interval from steps and a time of day",
        "or of a cron and an interval member",
        "and of a calendar interval and a JSON member",
    ],
)
def test_add_form_builds_the_spec_of_every_trigger_kind(
    admin_client: Client, overrides: dict[str, str], expected_spec: dict[str, Any]
) -> None:
    response = admin_client.post(ADD_URL, form_data(**overrides))

    assert response.status_code == 302, response.content.decode()[:3000]
    assert Schedule.objects.get(name="nightly report").trigger == expected_spec


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"trigger-cron_expression": "61 * * * *"}, "higher than the maximum value (59)"),
        ({"trigger-cron_expression": "0 9 * *"}, "expression"),
        ({"trigger-cron_expression": "", "trigger-cron_minute": "x"}, "Unrecognized expression"),
        ({"trigger-cron_expression": "0 9 * * *", "trigger-cron_hour": "9"}, "not both"),
        ({"trigger-cron_expression": ""}, "Give a crontab expression"),
        ({"args": "[1, 2"}, "Not valid JSON"),
        ({"args": '{"a": 1}'}, "Positional arguments must be a JSON list"),
        ({"kwargs": "[1]"}, "Keyword arguments must be a JSON object"),
        ({"headers": '"text"'}, "Headers must be a JSON object"),
        ({"task": "tests.no_such_task"}, "No task named &#x27;tests.no_such_task&#x27; is registered"),
        (
            {
                "start_at_0": "2030-01-02",
                "start_at_1": "00:00",
                "end_at_0": "2030-01-01",
                "end_at_1": "00:00",
            },
            "The end must not come before the start",
        ),
        ({"trigger-kind": "interval"}, "The interval must be longer than zero"),
        ({"trigger-kind": "or"}, "needs at least one member trigger"),
        ({"trigger-kind": "and"}, "needs at least one member trigger"),
        ({"timezone": "Mars/Olympus"}, "Unknown time zone"),
        ({"trigger-kind": "date", "trigger-date_run_at": "next tuesday"}, "is not an ISO 8601 date-time"),
        ({"trigger-kind": "date"}, "Give the date and time of the single run"),
        ({"trigger-kind": "interval", "trigger-interval_seconds": "-5"}, "greater than or equal to 0"),
        ({"trigger-kind": "spec", "trigger-spec_json": '{"type": "weekly"}'}, "unknown trigger type"),
        ({"trigger-kind": "spec", "trigger-spec_json": "{nope"}, "Not valid JSON"),
        (
            {
                "trigger-kind": "or",
                "trigger_members-0-kind": "cron",
                "trigger_members-0-cron_expression": "99 * * * *",
            },
            "higher than the maximum value",
        ),
        ({"max_instances": "0"}, "greater than or equal to 1"),
    ],
    ids=[
        "a cron minute out of range",
        "a crontab with four fields",
        "a cron field that is not an expression",
        "both a crontab and cron fields",
        "a cron trigger with nothing in it",
        "args that are not JSON",
        "args that are not a list",
        "kwargs that are not an object",
        "headers that are not an object",
        "a task the Celery app does not know",
        "an end before the start",
        "a zero interval",
        "an empty or",
        "an empty and",
        "an unknown time zone",
        "a date that is not a date",
        "a date trigger without its date",
        "a negative interval part",
        "a JSON spec of an unknown type",
        "a JSON spec that is not JSON",
        "a bad cron in an or member",
        "zero max instances",
    ],
)
def test_invalid_input_gives_a_form_error_and_saves_nothing(
    admin_client: Client, overrides: dict[str, str], message: str
) -> None:
    response = admin_client.post(ADD_URL, form_data(**overrides))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert 'class="errorlist' in response.content.decode()
    assert not Schedule.objects.exists()


def test_add_form_saves_and_options_and_each_members_own_bounds_and_zone(admin_client: Client) -> None:
    data = form_data(
        **{
            "trigger-kind": "and",
            "trigger-and_threshold": "2.5",
            "trigger-and_max_iterations": "500",
            "trigger_members-0-kind": "cron",
            "trigger_members-0-cron_expression": "0 9 * * 1-5",
            "trigger_members-0-member_timezone": "America/New_York",
            "trigger_members-0-member_start_at": "2026-01-01 00:00",
            "trigger_members-1-kind": "calendarinterval",
            "trigger_members-1-calendar_days": "1",
            "trigger_members-1-calendar_hour": "15",  # 09:00 in New York
            "trigger_members-1-member_end_at": "2030-01-01 00:00:00+00:00",
        }
    )

    response = admin_client.post(ADD_URL, data)

    assert response.status_code == 302, response.content.decode()[:3000]
    trigger = Schedule.objects.get(name="nightly report").trigger
    assert trigger["threshold"] == 2.5
    assert trigger["max_iterations"] == 500
    assert trigger["triggers"][0] == {
        "type": "cron",
        "expression": "0 9 * * 1-5",
        "start_at": "2026-01-01T00:00:00",
        "timezone": "America/New_York",
    }
    assert trigger["triggers"][1]["end_at"] == "2030-01-01T00:00:00+00:00"


def test_a_saved_members_options_are_shown_for_editing(admin_client: Client) -> None:
    schedule = make_schedule(
        trigger={
            "type": "and",
            "threshold": 30,
            "triggers": [{"type": "cron", "hour": "9", "timezone": "Asia/Tokyo", "start_at": "2026-01-01T09:00:00"}],
        }
    )

    page = admin_client.get(reverse("admin:beat_store_schedule_change", args=[schedule.pk])).content.decode()

    assert 'name="trigger-and_threshold" value="30"' in page
    assert 'name="trigger_members-0-member_timezone" value="Asia/Tokyo"' in page
    assert 'name="trigger_members-0-member_start_at" value="2026-01-01 09:00:00"' in page


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"trigger_members-0-member_start_at": "2026-03-29 02:30"},
            "member_start_at",
            "2026-03-29T02:30:00 does not exist in Europe/Paris: the clocks go forward from 02:00 to 03:00",
        ),
        (
            {"trigger_members-0-member_timezone": "Mars/Base"},
            "member_timezone",
            "Unknown time zone &#x27;Mars/Base&#x27;.",
        ),
        (
            {
                "trigger_members-0-member_start_at": "2026-02-01 00:00",
                "trigger_members-0-member_end_at": "2026-01-01 00:00",
            },
            "member_end_at",
            "Must not be earlier than start_at.",
        ),
        ({"trigger-and_max_iterations": "20000"}, "and_max_iterations", "less than or equal to 10000"),
        ({"trigger-and_threshold": "-1"}, "and_threshold", "greater than or equal to 0"),
    ],
    ids=[
        "a member's start in a DST gap is refused next to it",
        "a member's unknown zone is refused next to it",
        "a member's end before its start is refused next to it",
        "too many iterations are refused",
        "a negative threshold is refused",
    ],
)
def test_bad_member_and_and_options_are_shown_next_to_their_field(
    admin_client: Client, overrides: dict[str, str], field: str, message: str
) -> None:
    data = form_data(
        **{
            "trigger-kind": "and",
            "trigger_members-0-kind": "cron",
            "trigger_members-0-cron_expression": "0 9 * * *",
            **overrides,
        }
    )

    page = admin_client.post(ADD_URL, data).content.decode()

    field_block = page.split(f'data-field="{field}"', 1)[1].split('data-field="', 1)[0]
    assert message in field_block
    assert not Schedule.objects.exists()


def test_preview_warns_of_a_dst_fold_in_a_members_zone(admin_client: Client) -> None:
    data = form_data(
        _preview="1",
        **{
            "trigger-kind": "or",
            "trigger_members-0-kind": "date",
            "trigger_members-0-date_run_at": "2030-11-03 01:30",
            "trigger_members-0-member_timezone": "America/New_York",
        },
    )

    page = admin_client.post(ADD_URL, data).content.decode()

    assert "(01:30 in America/New_York, a member&#x27;s zone) falls in the hour repeated" in page


def test_an_unknown_task_is_saved_with_a_warning_when_the_setting_allows_it(
    admin_client: Client, settings: Any
) -> None:
    settings.BEAT_STORE_ALLOW_UNREGISTERED_TASKS = True

    response = admin_client.post(ADD_URL, form_data(task="elsewhere.tasks.report"), follow=True)

    assert Schedule.objects.get(name="nightly report").task == "elsewhere.tasks.report"
    assert any("not registered in this Celery app" in text for text in messages_of(response))


def test_the_task_field_suggests_registered_tasks_but_not_celery_internals(admin_client: Client) -> None:
    page = admin_client.get(ADD_URL).content.decode()

    assert '<option value="tests.add">' in page
    assert "celery.backend_cleanup" not in page


def test_preview_shows_the_next_ten_fire_times_without_saving(admin_client: Client) -> None:
    response = admin_client.post(ADD_URL, form_data(_preview="Preview fire times"))

    page = response.content.decode()
    assert response.status_code == 200
    assert not Schedule.objects.exists()
    assert "Preview only: nothing was saved" in page
    assert page.count("09:00:00 CE") == 10  # CET or CEST, in the schedule's zone
    assert "Please correct" not in page


def test_preview_of_an_invalid_form_shows_the_errors(admin_client: Client) -> None:
    response = admin_client.post(ADD_URL, form_data(_preview="1", **{"trigger-cron_expression": "0 25 * * *"}))

    assert response.status_code == 200
    assert "higher than the maximum value (23)" in response.content.decode()


PREVIEW_URL = reverse("admin:beat_store_schedule_preview")


def test_live_preview_answers_the_description_and_next_fire_times_as_json(admin_client: Client) -> None:
    response = admin_client.post(PREVIEW_URL, form_data(name="", task=""))  # unrelated errors do not matter

    preview = response.json()
    assert response.status_code == 200
    assert preview["zone"] == "Europe/Paris"
    assert preview["description"].startswith("At 09:00")
    assert len(preview["fire_times"]) == 10
    assert all("09:00:00 CE" in moment for moment in preview["fire_times"])
    assert preview["errors"] == []
    assert not Schedule.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"trigger-cron_expression": "0 25 * * *"}, "Crontab expression: Hour field '25'"),
        ({"timezone": "Mars/Olympus"}, "Unknown time zone 'Mars/Olympus'"),
        ({"trigger-kind": "interval", "trigger-cron_expression": ""}, "Trigger: The interval must be longer than zero"),
        ({"start_at_0": "2030-13-45", "start_at_1": "10:00"}, "Enter a valid date"),
    ],
    ids=["a bad cron field", "an unknown zone", "an interval of zero", "an impossible start date"],
)
def test_live_preview_of_bad_input_answers_the_error_not_a_500(
    admin_client: Client, overrides: dict[str, str], error: str
) -> None:
    response = admin_client.post(PREVIEW_URL, form_data(**overrides))

    preview = response.json()
    assert response.status_code == 200
    assert error in " ".join(preview["errors"])
    assert preview["fire_times"] == []


def test_live_preview_of_a_saved_interval_counts_from_its_creation(admin_client: Client) -> None:
    schedule = make_schedule(trigger={"type": "interval", "hours": 1}, timezone="UTC")
    created = schedule.created_at.replace(microsecond=0)
    data = form_data(
        **{"trigger-kind": "interval", "trigger-cron_expression": "", "trigger-interval_hours": "1", "timezone": "UTC"}
    )

    preview = admin_client.post(f"{PREVIEW_URL}?schedule={schedule.pk}", data).json()

    assert preview["errors"] == []
    assert preview["fire_times"][0].endswith(f"{created + timedelta(hours=1):%M:%S} UTC")


def test_live_preview_refuses_get_and_users_who_may_not_edit(admin_client: Client, client: Client) -> None:
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_schedule"))
    client.force_login(viewer)

    assert admin_client.get(PREVIEW_URL).status_code == 405
    assert client.post(PREVIEW_URL, form_data()).status_code == 403


def test_schedule_page_points_the_script_at_the_preview_endpoint(admin_client: Client) -> None:
    schedule = make_schedule(trigger={"type": "cron", "expression": "0 9 * * *"}, timezone="Europe/Paris")

    page = admin_client.get(reverse("admin:beat_store_schedule_change", args=[schedule.pk])).content.decode()

    assert f'data-preview-url="{PREVIEW_URL}?schedule={schedule.pk}"' in page
    assert '<p class="beat-store-description">At 09:00' in page
    assert "beat_store/schedule_preview.js" in page


def test_change_page_shows_preview_chart_and_recent_runs(admin_client: Client) -> None:
    schedule = make_schedule(timezone="Europe/Paris")
    add_execution(schedule, minutes_ago=2, status=ExecutionStatus.FAILED, exception="ValueError('boom')")
    add_execution(schedule, minutes_ago=1, started_at=timezone.now(), finished_at=timezone.now() + timedelta(seconds=3))

    page = admin_client.get(reverse("admin:beat_store_schedule_change", args=[schedule.pk])).content.decode()

    assert 'Next fire times<span class="beat-store-preview-zone"> (Europe/Paris)</span>' in page
    assert page.count('class="beat-store-bar"') == 2
    assert 'data-status="failed"' in page
    assert "ValueError(&#x27;boom&#x27;)" in page
    assert f"?schedule__id__exact={schedule.pk}" in page


def test_editing_a_schedule_keeps_its_trigger_fields(admin_client: Client) -> None:
    schedule = make_schedule(trigger={"type": "interval", "hours": 2})
    url = reverse("admin:beat_store_schedule_change", args=[schedule.pk])

    page = admin_client.get(url).content.decode()

    assert '<option value="interval" selected>' in page
    assert 'name="trigger-interval_hours" value="2"' in page


def test_metadata_is_edited_as_json_and_saving_it_alone_keeps_the_next_fire_time(admin_client: Client) -> None:
    admin_client.post(ADD_URL, form_data(metadata='{"owner": "ops"}'))
    schedule = Schedule.objects.get(name="nightly report")
    assert schedule.metadata == {"owner": "ops"}
    planned = timezone.now() + timedelta(days=3)  # as if beat had moved it on since the form was opened
    Schedule.objects.filter(pk=schedule.pk).update(next_fire_at=planned)
    url = reverse("admin:beat_store_schedule_change", args=[schedule.pk])
    assert "{&quot;owner&quot;: &quot;ops&quot;}" in admin_client.get(url).content.decode()

    response = admin_client.post(url, form_data(metadata='{"owner": "dev", "ticket": 12}'))

    assert response.status_code == 302, response.content.decode()[:3000]
    schedule.refresh_from_db()
    assert schedule.metadata == {"owner": "dev", "ticket": 12}
    assert schedule.next_fire_at == planned


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ('["ops"]', "Metadata must be a JSON object such as"),
        ('{"owner": ', "Not valid JSON"),
    ],
    ids=["a list", "broken JSON"],
)
def test_metadata_that_is_not_a_json_object_is_a_form_error(admin_client: Client, metadata: str, message: str) -> None:
    response = admin_client.post(ADD_URL, form_data(metadata=metadata))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Schedule.objects.exists()


# --- list -------------------------------------------------------------------------------------------------


@override_settings(TIME_ZONE="Europe/Paris")
def test_list_shows_description_next_fire_time_in_the_site_zone_and_the_last_run_linked(admin_client: Client) -> None:
    schedule = make_schedule(trigger={"type": "cron", "expression": "0 9 * * mon-fri"}, timezone="Asia/Tokyo")
    add_execution(schedule, minutes_ago=5, status=ExecutionStatus.SUCCEEDED)
    last = add_execution(schedule, minutes_ago=1, status=ExecutionStatus.FAILED)
    paris = ZoneInfo("Europe/Paris")

    page = admin_client.get(LIST_URL).content.decode()

    assert "(Asia/Tokyo)" in page
    assert f"{schedule.next_fire_at.astimezone(paris):%Y-%m-%d %H:%M:%S %Z}" in page
    runs_url = f"{EXECUTIONS_URL}?schedule__id__exact={schedule.pk}"
    assert (
        f'<a href="{escape(runs_url)}" title="This schedule\'s runs"><span class="beat-store-status" '
        f'style="background:#ba2121">failed</span> '
        f"<small>{last.fire_time.astimezone(paris):%Y-%m-%d %H:%M:%S %Z}</small></a>"
    ) in page


def test_list_counts_the_runs_and_links_the_failed_ones(admin_client: Client) -> None:
    schedule = make_schedule()
    for minutes_ago in range(1, 4):
        add_execution(schedule, minutes_ago=minutes_ago)
    add_execution(schedule, minutes_ago=10, status=ExecutionStatus.FAILED)
    make_schedule("never ran")

    page = admin_client.get(LIST_URL).content.decode()

    runs_url = f"{EXECUTIONS_URL}?schedule__id__exact={schedule.pk}"
    assert f'<a href="{escape(runs_url)}">4</a>' in page
    assert f'<a href="{escape(runs_url)}&amp;status__exact=failed" class="beat-store-failed-count">1 failed</a>' in page
    assert '<td class="field-runs">0</td>' in page


def test_list_shows_the_source_under_the_state_unless_made_in_the_admin(admin_client: Client) -> None:
    make_schedule("declared", source=ScheduleSource.SETTINGS)
    make_schedule("clicked")

    page = admin_client.get(f"{LIST_URL}?source=settings").content.decode()
    everything = admin_client.get(LIST_URL).content.decode()

    assert '<small class="beat-store-source">from settings</small>' in page
    assert everything.count('<small class="beat-store-source"></small>') == 1


def test_list_lets_dotted_names_wrap_only_between_their_words(admin_client: Client) -> None:
    make_schedule("nightly.cleanup_job", task="celery.backend_cleanup")

    page = admin_client.get(LIST_URL).content.decode()

    assert ">nightly.<wbr>cleanup_<wbr>job</a>" in page
    assert '<td class="field-task_display">celery.<wbr>backend_<wbr>cleanup</td>' in page


def test_pause_and_resume_in_place_come_back_to_the_filtered_list(admin_client: Client) -> None:
    schedule = make_schedule()
    list_page = admin_client.get(f"{LIST_URL}?q=every").content.decode()
    pause_url = reverse("admin:beat_store_schedule_pause", args=[schedule.pk])
    assert f'formaction="{pause_url}" formmethod="post" name="_from_list"' in list_page

    paused = admin_client.post(pause_url, {"_from_list": "1"}, HTTP_REFERER=f"http://testserver{LIST_URL}?q=every")
    schedule.refresh_from_db()
    assert paused.status_code == 302
    assert paused["Location"] == f"http://testserver{LIST_URL}?q=every"
    assert schedule.paused

    resume_url = reverse("admin:beat_store_schedule_resume_now", args=[schedule.pk])
    assert f'formaction="{resume_url}"' in admin_client.get(LIST_URL).content.decode()
    resumed = admin_client.post(resume_url, {"_from_list": "1"}, HTTP_REFERER="https://elsewhere.example/")
    schedule.refresh_from_db()
    assert resumed["Location"] == LIST_URL
    assert not schedule.paused


def test_list_query_count_does_not_grow_with_the_number_of_schedules(
    admin_client: Client, django_assert_max_num_queries: Any
) -> None:
    for index in range(40):
        add_execution(make_schedule(f"schedule {index:02d}"), minutes_ago=1)

    with django_assert_max_num_queries(12):
        response = admin_client.get(LIST_URL)

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("last_run=failed", "failing", "healthy"),
        ("last_run=never", "new", "failing"),
        ("state=paused", "resting", "healthy"),
        ("source=settings", "declared", "healthy"),
        ("trigger_kind=interval", "resting", "healthy"),
        ("task=tests.fail", "failing", "healthy"),
        ("q=nightly", "healthy", "failing"),
        ("q=billing", "healthy", "failing"),
        ("q=BILLING", "healthy", "failing"),
        ("q=%C3%A9quipe", "failing", "healthy"),
        ("q=billing+nightly", "healthy", "failing"),
        ("q=owner", "healthy", "new"),
    ],
    ids=[
        "last run failed",
        "never ran",
        "paused",
        "declared in settings",
        "interval triggers",
        "one task",
        "search in the description",
        "search in the metadata's values",
        "metadata search ignores case",
        "metadata search with a non-ascii term",
        "terms matched in the metadata and the description",
        "search in the metadata's keys",
    ],
)
def test_list_filters_and_search(admin_client: Client, query: str, shown: str, hidden: str) -> None:
    healthy = make_schedule("healthy", description="nightly export", metadata={"owner": "Billing", "ticket": 7})
    add_execution(healthy, minutes_ago=1)
    failing = make_schedule("failing", task="tests.fail", metadata={"owner": "équipe ops"})
    add_execution(failing, minutes_ago=1, status=ExecutionStatus.FAILED)
    make_schedule("new")
    make_schedule("resting", paused=True, trigger={"type": "interval", "minutes": 5})
    make_schedule("declared", source=ScheduleSource.SETTINGS)

    page = admin_client.get(f"{LIST_URL}?{query}").content.decode()

    assert f">{shown}</a>" in page
    assert f">{hidden}</a>" not in page


# --- actions --------------------------------------------------------------------------------------------


def post_action(client: Client, action: str, *schedules: Schedule) -> Any:
    data = {"action": action, "_selected_action": [schedule.pk for schedule in schedules]}
    return client.post(LIST_URL, data, follow=True)


def test_run_now_action_sends_the_run_and_names_its_task_id(admin_client: Client) -> None:
    schedule = make_schedule()

    response = post_action(admin_client, "run_now_action", schedule)

    execution = Execution.objects.get(schedule=schedule)
    assert execution.status == ExecutionStatus.SENT
    assert execution.manual
    assert f"Sent a run of 'every minute' to Celery (task id {execution.task_id})." in messages_of(response)


def test_run_now_is_skipped_with_the_reason_when_max_instances_are_running(admin_client: Client) -> None:
    schedule = make_schedule(max_instances=1)
    add_execution(schedule, minutes_ago=1, status=ExecutionStatus.STARTED)

    response = post_action(admin_client, "run_now_action", schedule)

    skipped = Execution.objects.get(schedule=schedule, manual=True)
    assert skipped.status == ExecutionStatus.SKIPPED
    [message] = messages_of(response)
    assert message.startswith("Did not run 'every minute': ")
    assert "recorded as skipped" in message


def test_run_now_reports_pending_when_the_broker_is_down(admin_client: Client) -> None:
    down = Celery("broker_down", broker="redis://127.0.0.1:1/0", set_as_current=False)
    down.conf.update(
        broker_connection_timeout=0.5,
        broker_connection_retry=False,
        task_publish_retry=False,
        broker_connection_max_retries=0,
    )
    down.set_current()
    schedule = make_schedule()

    response = post_action(admin_client, "run_now_action", schedule)

    assert Execution.objects.get(schedule=schedule).status == ExecutionStatus.PENDING
    assert any("recorded as pending" in text for text in messages_of(response))


def test_run_now_from_the_schedule_page(admin_client: Client) -> None:
    schedule = make_schedule()

    response = admin_client.post(reverse("admin:beat_store_schedule_run_now", args=[schedule.pk]), follow=True)

    assert response.redirect_chain[-1][0] == reverse("admin:beat_store_schedule_change", args=[schedule.pk])
    assert Execution.objects.get(schedule=schedule).status == ExecutionStatus.SENT
    assert any(text.startswith("Sent a run of") for text in messages_of(response))


def test_object_tool_operations_refuse_get(admin_client: Client) -> None:
    schedule = make_schedule()

    response = admin_client.get(reverse("admin:beat_store_schedule_run_now", args=[schedule.pk]))

    assert response.status_code == 405
    assert not Execution.objects.exists()


def test_pause_then_resume_from_now(admin_client: Client) -> None:
    schedule = make_schedule()

    paused = post_action(admin_client, "pause_action", schedule)
    resumed = post_action(admin_client, "resume_from_now_action", schedule)

    assert "Paused 'every minute': it does not fire until resumed." in messages_of(paused)
    [message] = messages_of(resumed)
    assert message.startswith("Resumed 'every minute': fire times missed while paused are skipped; next fire time")
    schedule.refresh_from_db()
    assert not schedule.paused


def test_resume_and_catch_up_names_the_coalesce_policy(admin_client: Client) -> None:
    schedule = make_schedule(paused=True, coalesce="all")

    response = admin_client.post(reverse("admin:beat_store_schedule_resume_catch_up", args=[schedule.pk]), follow=True)

    [message] = messages_of(response)
    assert "are run per its coalesce policy (all)" in message
    schedule.refresh_from_db()
    assert not schedule.paused


def test_duplicate_makes_a_paused_copy_with_a_new_name(admin_client: Client) -> None:
    schedule = make_schedule(kwargs={"a": 1})
    make_schedule("every minute (copy)")

    response = post_action(admin_client, "duplicate_action", schedule)

    copy = Schedule.objects.get(name="every minute (copy 2)")
    assert copy.paused
    assert copy.kwargs == {"a": 1}
    assert copy.trigger == schedule.trigger
    assert copy.source == ScheduleSource.ADMIN
    assert "Duplicated 'every minute' as 'every minute (copy 2)', paused: resume it when ready." in messages_of(
        response
    )


# --- permissions and declared schedules -------------------------------------------------------------------


@pytest.fixture
def viewer_client(client: Client) -> Client:
    """A staff user who may view schedules but not change them."""
    user = User.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_schedule"))
    client.force_login(user)
    return client


def test_a_user_without_change_permission_cannot_run_now(viewer_client: Client) -> None:
    schedule = make_schedule()

    page_response = viewer_client.post(reverse("admin:beat_store_schedule_run_now", args=[schedule.pk]))
    action_response = post_action(viewer_client, "run_now_action", schedule)

    assert page_response.status_code == 403
    assert action_response.status_code == 200
    assert not Execution.objects.exists()
    assert (
        "Run now"
        not in viewer_client.get(reverse("admin:beat_store_schedule_change", args=[schedule.pk])).content.decode()
    )


def test_a_user_without_permissions_sees_no_schedules(client: Client) -> None:
    client.force_login(User.objects.create_user("nobody", password="x", is_staff=True))

    assert client.get(LIST_URL).status_code == 403


def test_schedules_declared_in_settings_are_read_only_and_say_why(admin_client: Client) -> None:
    schedule = make_schedule(source=ScheduleSource.SETTINGS)
    url = reverse("admin:beat_store_schedule_change", args=[schedule.pk])

    page = admin_client.get(url).content.decode()
    post = admin_client.post(url, form_data(name="renamed"))

    assert "beat&#x27;s next sync would undo any edit" in page
    assert 'name="_save"' not in page
    assert "Run now" in page
    assert post.status_code == 403
    assert Schedule.objects.get(pk=schedule.pk).name == "every minute"


def test_schedules_created_from_code_stay_editable(admin_client: Client) -> None:
    schedule = make_schedule(source=ScheduleSource.CODE)
    url = reverse("admin:beat_store_schedule_change", args=[schedule.pk])

    page = admin_client.get(url).content.decode()

    assert "next sync would undo" not in page
    assert 'name="_save"' in page


def test_run_now_still_works_on_a_declared_schedule(admin_client: Client) -> None:
    schedule = make_schedule(source=ScheduleSource.SETTINGS)

    admin_client.post(reverse("admin:beat_store_schedule_run_now", args=[schedule.pk]))

    assert Execution.objects.get(schedule=schedule).status == ExecutionStatus.SENT


# --- executions -----------------------------------------------------------------------------------------


def test_execution_list_shows_status_lateness_duration_and_short_result(admin_client: Client) -> None:
    schedule = make_schedule()
    execution = add_execution(schedule, minutes_ago=10, worker="celery@host", result="x" * 200)
    Execution.objects.filter(pk=execution.pk).update(
        started_at=execution.fire_time + timedelta(seconds=2),
        finished_at=execution.fire_time + timedelta(seconds=7),
    )

    page = admin_client.get(EXECUTIONS_URL).content.decode()

    assert "2.0 s" in page  # lateness
    assert "5.0 s" in page  # duration
    assert "celery@host" in page
    assert "x" * 39 + "…" in page
    assert 'style="background:#2e8540">succeeded<' in page


def test_execution_detail_shows_the_traceback_and_cannot_be_edited(admin_client: Client) -> None:
    execution = add_execution(
        make_schedule(),
        minutes_ago=1,
        status=ExecutionStatus.FAILED,
        exception="ValueError('boom')",
        traceback="Traceback (most recent call last):\n  <here>",
    )
    url = reverse("admin:beat_store_execution_change", args=[execution.pk])

    page = admin_client.get(url).content.decode()

    assert '<pre class="beat-store-traceback">Traceback (most recent call last):\n  &lt;here&gt;</pre>' in page
    assert admin_client.post(url, {}).status_code == 403
    assert admin_client.get(reverse("admin:beat_store_execution_add")).status_code == 403


def test_execution_detail_links_the_task_result(admin_client: Client) -> None:
    from django_celery_results.models import TaskResult

    execution = add_execution(make_schedule(), minutes_ago=1)
    task_result = TaskResult.objects.create(task_id=execution.task_id, status="SUCCESS")

    page = admin_client.get(reverse("admin:beat_store_execution_change", args=[execution.pk])).content.decode()

    assert reverse("admin:django_celery_results_taskresult_change", args=[task_result.pk]) in page


def schedule_cell(schedule: Schedule) -> str:
    """The start of an execution row's schedule cell (the link to that schedule)."""
    url = reverse("admin:beat_store_schedule_change", args=[schedule.pk])
    return f'<td class="field-schedule_link"><a href="{url}">{schedule.name}</a>'


def test_executions_filter_by_schedule_from_the_schedule_page_link(admin_client: Client) -> None:
    mine, other = make_schedule("mine"), make_schedule("other")
    add_execution(mine, minutes_ago=1)
    add_execution(other, minutes_ago=1)

    page = admin_client.get(f"{EXECUTIONS_URL}?schedule__id__exact={mine.pk}").content.decode()

    assert schedule_cell(mine) in page
    assert schedule_cell(other) not in page


def test_execution_sidebar_filters_by_schedule_and_by_task(admin_client: Client) -> None:
    adds, fails = make_schedule("adds"), make_schedule("fails", task="tests.fail")
    add_execution(adds, minutes_ago=1)
    add_execution(fails, minutes_ago=1, status=ExecutionStatus.FAILED)

    sidebar = admin_client.get(EXECUTIONS_URL).content.decode()
    by_task = admin_client.get(f"{EXECUTIONS_URL}?task=tests.fail").content.decode()

    assert f'href="?schedule__id__exact={fails.pk}">fails</a>' in sidebar
    assert 'href="?task=tests.fail">tests.fail</a>' in sidebar
    assert schedule_cell(fails) in by_task
    assert schedule_cell(adds) not in by_task


def test_execution_list_drills_down_by_date(admin_client: Client) -> None:
    schedule = make_schedule()
    recent = add_execution(schedule, minutes_ago=1)
    older = add_execution(schedule, minutes_ago=60 * 24 * 400)
    day = recent.fire_time

    overview = admin_client.get(EXECUTIONS_URL).content.decode()
    one_day = admin_client.get(
        f"{EXECUTIONS_URL}?fire_time__year={day.year}&fire_time__month={day.month}&fire_time__day={day.day}"
    ).content.decode()

    # Django's date hierarchy starts by year here: the runs span two years.
    assert f'<a href="?fire_time__year={day.year}">{day.year}</a>' in overview
    assert f'<a href="?fire_time__year={older.fire_time.year}">{older.fire_time.year}</a>' in overview
    assert one_day.count('<td class="field-schedule_link">') == 1


@override_settings(TIME_ZONE="Europe/Paris")
def test_execution_page_shows_every_time_with_seconds_in_the_site_zone(admin_client: Client) -> None:
    execution = add_execution(make_schedule("hourly export"), minutes_ago=1)
    Execution.objects.filter(pk=execution.pk).update(
        started_at=execution.fire_time + timedelta(seconds=1, milliseconds=500),
        finished_at=execution.fire_time + timedelta(seconds=1, milliseconds=509),
    )
    paris = execution.fire_time.astimezone(ZoneInfo("Europe/Paris"))

    page = admin_client.get(reverse("admin:beat_store_execution_change", args=[execution.pk])).content.decode()

    assert f"<title>hourly export at {paris:%Y-%m-%d %H:%M:%S %Z} | View execution |" in page
    assert f'<div class="readonly">{paris:%Y-%m-%d %H:%M:%S %Z}</div>' in page  # fire time
    assert f'<div class="readonly">{paris + timedelta(seconds=1):%Y-%m-%d %H:%M:%S %Z}</div>' in page  # started
    assert '<div class="readonly">9 ms</div>' in page  # duration
    assert "a.m." not in page
    assert "p.m." not in page


@override_settings(TIME_ZONE="Europe/Paris")
def test_schedule_page_chart_and_runs_share_the_site_zone_and_duration_format(admin_client: Client) -> None:
    schedule = make_schedule(timezone="Asia/Tokyo")
    execution = add_execution(schedule, minutes_ago=1)
    Execution.objects.filter(pk=execution.pk).update(
        started_at=execution.fire_time, finished_at=execution.fire_time + timedelta(milliseconds=9)
    )
    shown = f"{execution.fire_time.astimezone(ZoneInfo('Europe/Paris')):%Y-%m-%d %H:%M:%S %Z}"

    page = admin_client.get(reverse("admin:beat_store_schedule_change", args=[schedule.pk])).content.decode()

    assert f"<title>{shown}: succeeded, 9 ms</title>" in page  # the chart bar's tooltip
    assert f">{shown}</a></td>" in page  # the recent runs table
    assert "<td>9 ms</td>" in page
    assert "0.0 s" not in page


# --- pruning --------------------------------------------------------------------------------------------


def test_prune_page_deletes_old_finished_executions_only(admin_client: Client) -> None:
    schedule = make_schedule()
    add_execution(schedule, minutes_ago=60 * 24 * 10)
    add_execution(schedule, minutes_ago=60 * 24 * 9, status=ExecutionStatus.STARTED)
    recent = add_execution(schedule, minutes_ago=5)

    response = admin_client.post(reverse("admin:beat_store_execution_prune"), {"older_than": "7d"}, follow=True)

    assert "Deleted 1 execution(s) older than 7d." in messages_of(response)
    assert set(Execution.objects.values_list("status", flat=True)) == {ExecutionStatus.STARTED, recent.status}


def test_prune_page_rejects_a_bad_age_with_a_form_error(admin_client: Client) -> None:
    add_execution(make_schedule(), minutes_ago=60 * 24 * 10)

    response = admin_client.post(reverse("admin:beat_store_execution_prune"), {"older_than": "a week"})

    assert response.status_code == 200
    assert "is not an age" in response.content.decode()
    assert Execution.objects.count() == 1


def test_prune_action_leads_to_the_prune_page_with_or_without_a_selection(admin_client: Client) -> None:
    execution = add_execution(make_schedule(), minutes_ago=1)

    with_selection = admin_client.post(EXECUTIONS_URL, {"action": "prune_action", "_selected_action": [execution.pk]})
    without = admin_client.post(EXECUTIONS_URL, {"action": "prune_action", "index": "0"})

    assert with_selection.status_code == without.status_code == 302
    assert with_selection["Location"] == without["Location"] == reverse("admin:beat_store_execution_prune")


def test_the_prune_button_shows_to_users_who_may_delete_executions(admin_client: Client, client: Client) -> None:
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_execution"))
    client.force_login(viewer)
    button = f'<a href="{reverse("admin:beat_store_execution_prune")}">Prune old executions</a>'

    assert button in admin_client.get(EXECUTIONS_URL).content.decode()
    assert button not in client.get(EXECUTIONS_URL).content.decode()
    assert client.post(EXECUTIONS_URL, {"action": "prune_action", "index": "0"}).status_code != 302


def test_prune_command_deletes_old_executions() -> None:
    schedule = make_schedule()
    add_execution(schedule, minutes_ago=90)
    add_execution(schedule, minutes_ago=10)

    call_command("beat_store_prune", "--older-than", "1h")

    assert Execution.objects.count() == 1


def test_prune_command_refuses_a_bad_age_clearly() -> None:
    with pytest.raises(CommandError, match=r"--older-than: '7 days' is not an age"):
        call_command("beat_store_prune", "--older-than", "7 days")


def test_a_date_in_the_past_is_saved_finished_with_a_warning(admin_client: Client) -> None:
    overrides = {"trigger-kind": "date", "trigger-date_run_at": "2020-01-01 09:00"}

    response = admin_client.post(ADD_URL, form_data(**overrides), follow=True)

    schedule = Schedule.objects.get(name="nightly report")
    assert schedule.is_finished
    assert "has no fire time from now on" in response.content.decode()


@override_settings(TIME_ZONE="Europe/Paris")
def test_start_and_end_say_which_zone_they_are_read_in(admin_client: Client) -> None:
    """Django reads typed dates in the site's zone, whatever the schedule's zone is: the form says so."""
    page = admin_client.get(ADD_URL).content.decode()

    assert page.count("Entered in the site's time zone (Europe/Paris).") == 2


@override_settings(BEAT_STORE_TASK_DEFAULTS={"tests.*": {"coalesce": "earliest", "queue": "reports"}})
def test_the_change_page_says_which_defaults_a_schedule_uses_and_where_they_come_from(admin_client: Client) -> None:
    schedule = Schedule.objects.create(
        name="defaulted", task="tests.add", trigger={"type": "interval", "hours": 1}, max_instances=3
    )

    page = admin_client.get(reverse("admin:beat_store_schedule_change", args=[schedule.pk])).content.decode()

    assert "coalesce: earliest (default from settings)" in page
    assert "queue: reports (default from settings)" in page
    assert "max_instances: " not in page  # its own value, not a default
    assert "misfire_grace_time: no deadline (beat_store&#x27;s default)" in page
    assert "Empty: earliest, the default from settings for tests.add." in page
    assert "Empty: no deadline." in page


def test_saving_the_form_with_empty_policy_fields_leaves_them_unset(admin_client: Client) -> None:
    response = admin_client.post(ADD_URL, form_data(name="unset", coalesce="", max_instances=""))

    assert response.status_code == 302
    schedule = Schedule.objects.get(name="unset")
    assert (schedule.coalesce, schedule.max_instances) == (None, None)
    assert schedule.timing_policy().max_instances == 1
