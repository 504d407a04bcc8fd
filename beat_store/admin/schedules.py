"""The schedule admin: list, form with trigger editor and preview, run-now/pause/resume/duplicate."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, QuerySet, Subquery, TextField
from django.db.models.functions import Cast, Coalesce
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe

from beat_store import api
from beat_store.admin.chart import CHART_RUNS, ChartRun, render_run_chart
from beat_store.admin.display import (
    EMPTY,
    defaults_in_effect,
    local_time,
    run_status,
    seconds,
    status_badge,
    time_of_day,
    timestamp_column,
)
from beat_store.admin.run_now import run_now_with_view
from beat_store.enums import ExecutionStatus, ScheduleSource
from beat_store.exceptions import ScheduleLookupError
from beat_store.forms import ScheduleForm
from beat_store.models import Execution, Schedule, ScheduleQuerySet
from beat_store.triggers import describe_trigger

RECENT_EXECUTIONS = 20
#: Posted by the pause/resume buttons of the schedule list: come back to the list, not the schedule's page.
FROM_LIST = "_from_list"
# Only settings and schedule files are re-synced (at every beat start). A schedule made by add_schedule() in
# code stays editable: its default conflict policy "do_nothing" never overwrites edits.
DECLARED_SOURCES = (ScheduleSource.SETTINGS, ScheduleSource.FILE)
DECLARED_WHERE = {
    ScheduleSource.SETTINGS: "in settings (Celery's beat_schedule or BEAT_STORE_SCHEDULES)",
    ScheduleSource.FILE: "in a schedule file (BEAT_STORE_SCHEDULE_FILES)",
}


def is_declared(schedule: Schedule | None) -> bool:
    return schedule is not None and schedule.source in DECLARED_SOURCES


class LastRunStatusFilter(admin.SimpleListFilter):
    title = "last run status"
    parameter_name = "last_run"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [*ExecutionStatus.choices, ("never", "never ran")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "never":
            return queryset.filter(last_status__isnull=True)
        if value in ExecutionStatus.values:
            return queryset.filter(last_status=value)
        return queryset


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("active", "active"), ("paused", "paused"), ("finished", "finished")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        assert isinstance(queryset, ScheduleQuerySet)
        # A schedule whose last fire time is decided ahead is finished for beat, but not until that run is released.
        if value == "active":
            return queryset.unfinished().filter(paused=False)
        if value == "paused":
            return queryset.filter(paused=True)
        if value == "finished":
            return queryset.finished()
        return queryset


class TaskFilter(admin.SimpleListFilter):
    """The task names in use (one DISTINCT query, capped), not a dropdown of schedules."""

    title = "task"
    parameter_name = "task"
    limit = 100

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        names = Schedule.objects.order_by("task").values_list("task", flat=True).distinct()[: self.limit]
        return [(name, name) for name in names]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(task=self.value()) if self.value() else queryset


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    change_form_template = "beat_store/admin/schedule_change_form.html"
    # The source shows under the state (a narrow list fits 1400 px), and is a filter.
    list_display = (
        "name_display",
        "task_display",
        "trigger_description",
        "next_fire_time",
        "last_run",
        "runs",
        "state",
    )
    list_filter = (LastRunStatusFilter, StateFilter, "source", "trigger_kind", TaskFilter)
    # metadata_text: the metadata as JSON text (see get_search_results), so a term matches its keys and values.
    search_fields = ("name", "task", "description", "metadata_text")
    show_full_result_count = False
    list_per_page = 50
    actions = (
        "run_now_action",
        "pause_action",
        "resume_from_now_action",
        "resume_catch_up_action",
        "duplicate_action",
    )
    state_fields = (
        "source",
        "defaults_used",
        "next_fire_time",
        "last_fire_time",
        "finished_time",
        "last_error",
        "created_time",
        "updated_time",
    )
    readonly_fields = state_fields

    fieldsets = (
        (None, {"fields": ("name", "description", "task", "paused")}),
        ("Trigger", {"fields": ("trigger", "timezone", "start_at", "end_at")}),
        ("Arguments", {"fields": ("args", "kwargs")}),
        ("Timing policy", {"fields": ("coalesce", "misfire_grace_time", "max_instances", "jitter")}),
        ("History", {"fields": ("keep_runs_days",)}),
        ("Metadata", {"fields": ("metadata",)}),
        (
            "Celery message options",
            {
                "classes": ("collapse",),
                "fields": ("queue", "exchange", "routing_key", "priority", "expires", "headers"),
            },
        ),
        ("State", {"fields": state_fields}),
    )

    class Media:
        css = {"all": ("beat_store/admin.css",)}
        js = ("beat_store/trigger_editor.js", "beat_store/schedule_preview.js")

    # --- list ---------------------------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[Schedule]:
        # Correlated subqueries on the (schedule, -fire_time) index instead of queries per row.
        runs = Execution.objects.filter(schedule=OuterRef("pk"))
        last = runs.order_by("-fire_time", "-id")
        queryset = super().get_queryset(request)
        assert isinstance(queryset, ScheduleQuerySet)
        return queryset.with_upcoming_fire().annotate(
            last_status=Subquery(last.values("status")[:1]),
            last_run_at=Subquery(last.values("fire_time")[:1]),
            run_count=_count_of(runs),
            failed_count=_count_of(runs.filter(status=ExecutionStatus.FAILED)),
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Schedule], search_term: str
    ) -> tuple[QuerySet[Schedule], bool]:
        # Casting the JSON column to text searches inside it the same way on PostgreSQL (jsonb::text), MySQL,
        # MariaDB and SQLite (JSON stored as text), with Django's icontains; no JSON path operator is portable.
        # An alias (not an annotation): nothing is selected, and only a search pays for the cast.
        if search_term:
            queryset = queryset.alias(metadata_text=Cast("metadata", output_field=TextField()))
        return super().get_search_results(request, queryset, search_term)

    def get_list_display(self, request: HttpRequest) -> Any:
        if not self.has_operate_permission(request):
            return self.list_display
        # With the right to operate, the state column pauses and resumes in place.
        return tuple("state_with_toggle" if name == "state" else name for name in self.list_display)

    @admin.display(description="name", ordering="name")
    def name_display(self, schedule: Schedule) -> Any:
        return breakable_name(schedule.name)

    @admin.display(description="task", ordering="task")
    def task_display(self, schedule: Schedule) -> Any:
        return breakable_name(schedule.task)

    @admin.display(description="trigger")
    def trigger_description(self, schedule: Schedule) -> str:
        return describe_trigger(schedule.trigger, schedule.timezone)

    @admin.display(description="defaults in effect")
    def defaults_used(self, schedule: Schedule) -> str:
        return defaults_in_effect(schedule)

    @admin.display(description="next fire time", ordering="upcoming_fire_at")
    def next_fire_time(self, schedule: Schedule) -> Any:
        """The next time the schedule fires (``Schedule.upcoming_fire_at``), marked when that run is already
        decided ahead: beat's own ``next_fire_at`` has moved past it."""
        upcoming = schedule.upcoming_fire_at
        if upcoming is None or upcoming == schedule.next_fire_at:
            return local_time(upcoming)
        return format_html(
            '{} <small title="Decided ahead: its message waits in the broker for this time.">staged</small>',
            local_time(upcoming),
        )

    last_fire_time = timestamp_column("last_fire_at", "last fire time")
    finished_time = timestamp_column("finished_at", "finished at")
    created_time = timestamp_column("created_at", "created at")
    updated_time = timestamp_column("updated_at", "updated at")

    @admin.display(description="last run", ordering="last_run_at")
    def last_run(self, schedule: Schedule) -> Any:
        status = getattr(schedule, "last_status", None)
        if not status:
            return EMPTY
        return format_html(
            '<a href="{}" title="This schedule\'s runs">{} <small>{}</small></a>',
            executions_url(schedule),
            status_badge(status),
            local_time(getattr(schedule, "last_run_at", None)),
        )

    @admin.display(description="runs", ordering="run_count")
    def runs(self, schedule: Schedule) -> Any:
        total, failed = getattr(schedule, "run_count", 0), getattr(schedule, "failed_count", 0)
        if not total:
            return "0"
        if not failed:
            return format_html('<a href="{}">{}</a>', executions_url(schedule), total)
        return format_html(
            '<a href="{}">{}</a> · <a href="{}" class="beat-store-failed-count">{} failed</a>',
            executions_url(schedule),
            total,
            executions_url(schedule, status=ExecutionStatus.FAILED),
            failed,
        )

    @admin.display(description="state")
    def state(self, schedule: Schedule) -> Any:
        return self._state_cell(schedule, toggle="")

    @admin.display(description="state")
    def state_with_toggle(self, schedule: Schedule) -> Any:
        # The list rows sit inside the changelist's form (with its CSRF token): the button posts that form to
        # the operation's own URL, which comes back to the list.
        if schedule.paused or schedule.last_error:
            slug, label = "resume_now", "Resume"
            title = "Resume from now: the fire times missed while paused are skipped"
        elif schedule.is_finished:
            return self.state(schedule)
        else:
            slug, label, title = "pause", "Pause", "No run is sent until it is resumed"
        toggle = format_html(
            '<button type="submit" class="beat-store-toggle" formaction="{}" formmethod="post" name="{}" '
            'value="1" title="{}">{}</button>',
            reverse(f"admin:beat_store_schedule_{slug}", args=[schedule.pk]),
            FROM_LIST,
            title,
            label,
        )
        return self._state_cell(schedule, toggle=toggle)

    def _state_cell(self, schedule: Schedule, *, toggle: str) -> Any:
        state: str = "paused" if schedule.paused else "finished" if schedule.is_finished else "active"
        if schedule.last_error:
            state = format_html('<span title="{}">paused (error)</span>', schedule.last_error)
        source = "" if schedule.source == ScheduleSource.ADMIN else f"from {ScheduleSource(schedule.source).label}"
        return format_html('{} {}<small class="beat-store-source">{}</small>', state, toggle, source)

    # --- form ---------------------------------------------------------------------------------------------

    def get_fieldsets(self, request: HttpRequest, obj: Schedule | None = None) -> Any:
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is None:
            return [fieldset for fieldset in fieldsets if fieldset[0] != "State"]
        if not self.has_change_permission(request, obj):
            # Read-only page: the editor widget cannot show a saved trigger, its description can.
            return [
                (
                    title,
                    {
                        **options,
                        "fields": tuple(
                            "trigger_description" if name == "trigger" else name for name in options["fields"]
                        ),
                    },
                )
                for title, options in fieldsets
            ]
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Schedule | None = None) -> Any:
        if obj is not None and not self.has_change_permission(request, obj):
            return [name for _, options in self.get_fieldsets(request, obj) for name in options["fields"]]
        return self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Schedule | None = None) -> bool:
        # Declared schedules are rewritten from their declaration at beat's next sync: editing them here
        # would be silently undone, so their page is read-only.
        return super().has_change_permission(request, obj) and not is_declared(obj)

    def has_delete_permission(self, request: HttpRequest, obj: Schedule | None = None) -> bool:
        return super().has_delete_permission(request, obj) and not is_declared(obj)

    def save_model(self, request: HttpRequest, obj: Schedule, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        for warning in getattr(form, "warnings", ()):
            self.message_user(request, warning, messages.WARNING)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Schedule | None = None,
    ) -> HttpResponse:
        form = context["adminform"].form
        can_operate = obj is not None and self.has_operate_permission(request)
        context.update(
            preview=form.get_preview() if hasattr(form, "get_preview") else None,
            preview_description=preview_description(form, obj),
            preview_url=reverse("admin:beat_store_schedule_preview") + (f"?schedule={obj.pk}" if obj else ""),
            is_preview=getattr(form, "is_preview", False),
            declared_notice=self.declared_notice(obj),
            can_operate=can_operate,
            can_duplicate=can_operate and self.has_add_permission(request),
            can_edit=obj is None or self.has_change_permission(request, obj),
        )
        if obj is not None:
            context.update(self.history_context(obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def declared_notice(self, obj: Schedule | None) -> str | None:
        if not is_declared(obj):
            return None
        assert obj is not None
        where = DECLARED_WHERE[ScheduleSource(obj.source)]
        if obj.source == ScheduleSource.FILE and obj.source_file:
            where = f"in the schedule file {obj.source_file}"
        return (
            f"This schedule is declared {where}. It is read-only here: "
            "beat's next sync would undo any edit. Change its declaration instead. Run now, pause and resume "
            "still work; a 'paused' value in the declaration wins at the next sync."
        )

    def history_context(self, obj: Schedule) -> dict[str, Any]:
        recent = list(obj.executions.order_by("-fire_time", "-id")[:CHART_RUNS])
        runs = [ChartRun(run.fire_time, run.status, run.duration) for run in reversed(recent)]
        return {
            "run_chart": render_run_chart(runs),
            "recent_executions": [RecentRun.of(run) for run in recent[:RECENT_EXECUTIONS]],
            "recent_limit": RECENT_EXECUTIONS,
            "executions_url": executions_url(obj),
        }

    # --- operations (actions and object tools share them) ---------------------------------------------------

    def has_operate_permission(self, request: HttpRequest) -> bool:
        """Run now, pause, resume and duplicate need the change permission on schedules."""
        return super().has_change_permission(request)

    def run_now(
        self, request: HttpRequest, schedule: Schedule, *, kwargs: dict[str, Any] | None = None, force: bool = False
    ) -> None:
        """Run now, report the outcome; a bad ``kwargs`` raises ``ValidationError`` (the form shows it)."""
        try:
            execution = api.run_now(schedule.name, kwargs=kwargs, force=force)
        except ScheduleLookupError as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        if execution.status == ExecutionStatus.SENT:
            self.message_user(
                request,
                f"Sent a {'forced ' if force else ''}run of {schedule.name!r} to Celery (task id {execution.task_id}).",
                messages.SUCCESS,
            )
        elif execution.status == ExecutionStatus.SKIPPED:
            reason = execution.result or f"max instances ({schedule.option('max_instances')}) reached"
            self.message_user(
                request,
                f"Did not run {schedule.name!r}: {reason}. The run is recorded as skipped; 'Run now (force)' sends "
                "one anyway.",
                messages.WARNING,
            )
        elif execution.status == ExecutionStatus.PENDING:
            self.message_user(
                request,
                f"Could not reach the broker for {schedule.name!r}: the run is recorded as pending and beat "
                "sends it "
                "when the broker is back.",
                messages.WARNING,
            )
        else:
            self.message_user(request, f"Run of {schedule.name!r} recorded as {execution.status}.", messages.INFO)

    def pause(self, request: HttpRequest, schedule: Schedule) -> None:
        if schedule.paused:
            self.message_user(request, f"{schedule.name!r} was already paused.", messages.INFO)
            return
        api.pause_schedule(schedule.name)
        self.message_user(request, f"Paused {schedule.name!r}: it does not fire until resumed.", messages.SUCCESS)

    def resume(self, request: HttpRequest, schedule: Schedule, *, from_now: bool) -> None:
        if not schedule.paused and not schedule.last_error:
            self.message_user(request, f"{schedule.name!r} was not paused.", messages.INFO)
            return
        resumed = api.resume_schedule(schedule.name, resume_from="now" if from_now else None)
        how = (
            "fire times missed while paused are skipped"
            if from_now
            else f"fire times missed while paused are run per its coalesce policy ({resumed.option('coalesce')})"
        )
        self.message_user(
            request,
            f"Resumed {schedule.name!r}: {how}; next fire time {local_time(resumed.next_fire_at)}.",
            messages.SUCCESS,
        )

    def duplicate(self, request: HttpRequest, schedule: Schedule) -> Schedule:
        copy = Schedule.objects.get(pk=schedule.pk)
        copy.pk = None
        copy._state.adding = True
        copy.name = unique_copy_name(schedule.name)
        copy.paused = True
        copy.source = ScheduleSource.ADMIN
        copy.source_file = None
        copy.next_fire_at = copy.last_fire_at = copy.finished_at = None
        copy.last_error = ""
        copy.save()
        self.message_user(
            request,
            f"Duplicated {schedule.name!r} as {copy.name!r}, paused: resume it when ready.",
            messages.SUCCESS,
        )
        return copy

    # --- list actions ---------------------------------------------------------------------------------------

    @admin.action(description="Run now (send to Celery at once)", permissions=["change"])
    def run_now_action(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        for schedule in queryset:
            self.run_now(request, schedule)

    @admin.action(description="Pause", permissions=["change"])
    def pause_action(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        for schedule in queryset:
            self.pause(request, schedule)

    @admin.action(description="Resume from now (skip missed fire times)", permissions=["change"])
    def resume_from_now_action(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        for schedule in queryset:
            self.resume(request, schedule, from_now=True)

    @admin.action(description="Resume and catch up (missed fire times per coalesce policy)", permissions=["change"])
    def resume_catch_up_action(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        for schedule in queryset:
            self.resume(request, schedule, from_now=False)

    @admin.action(description="Duplicate (paused copy)", permissions=["add"])
    def duplicate_action(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        for schedule in queryset:
            self.duplicate(request, schedule)

    # --- object tools: the same operations from the schedule page ------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        operations = {
            "run-now": lambda request, schedule: self.run_now(request, schedule),
            "run-now-force": lambda request, schedule: self.run_now(request, schedule, force=True),
            "pause": lambda request, schedule: self.pause(request, schedule),
            "resume-now": lambda request, schedule: self.resume(request, schedule, from_now=True),
            "resume-catch-up": lambda request, schedule: self.resume(request, schedule, from_now=False),
            "duplicate": lambda request, schedule: self.duplicate(request, schedule),
        }
        preview = path("preview/", self.admin_site.admin_view(self.preview_view), name="beat_store_schedule_preview")
        run_with = path(
            "<path:object_id>/run-now-with/",
            self.admin_site.admin_view(lambda request, object_id: run_now_with_view(self, request, object_id)),
            name="beat_store_schedule_run_now_with",
        )
        return [
            preview,
            run_with,
            *[
                path(
                    f"<path:object_id>/{slug}/",
                    self.admin_site.admin_view(self._operation_view(operation, creates=slug == "duplicate")),
                    name=f"beat_store_schedule_{slug.replace('-', '_')}",
                )
                for slug, operation in operations.items()
            ],
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """The live preview of the schedule form (``ScheduleForm.live_preview``) as JSON: POST the form's fields,
        with ``?schedule=<id>`` on a schedule's page (an interval counts from its creation)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        schedule_id = request.GET.get("schedule")
        schedule = self.get_object(request, schedule_id) if schedule_id else None
        allowed = self.has_change_permission(request, schedule) if schedule else self.has_add_permission(request)
        if not allowed:
            raise PermissionDenied
        form_class = self.get_form(request, schedule, change=schedule is not None)  # the admin's widgets
        form = form_class(request.POST, instance=schedule or Schedule())
        assert isinstance(form, ScheduleForm)
        return JsonResponse(form.live_preview())

    def _operation_view(self, operation: Any, *, creates: bool) -> Any:
        def view(request: HttpRequest, object_id: str) -> HttpResponse:
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            if not self.has_operate_permission(request):
                raise PermissionDenied
            if creates and not self.has_add_permission(request):
                raise PermissionDenied  # a copy is a new schedule: the add permission too
            schedule = self.get_object(request, object_id)
            if schedule is None:
                raise Http404(f"No schedule with id {object_id!r}.")
            result = operation(request, schedule)
            if FROM_LIST in request.POST:
                return HttpResponseRedirect(self.list_to_return_to(request))
            target = result if isinstance(result, Schedule) else schedule
            return HttpResponseRedirect(reverse("admin:beat_store_schedule_change", args=[target.pk]))

        return view

    def list_to_return_to(self, request: HttpRequest) -> str:
        """The schedule list the user came from (its filters and page kept), else the plain list."""
        referer = request.headers.get("referer", "")
        changelist = reverse("admin:beat_store_schedule_changelist")
        is_safe = url_has_allowed_host_and_scheme(referer, {request.get_host()}, require_https=request.is_secure())
        if is_safe and urlsplit(referer).path == changelist:
            return referer
        return changelist


@dataclass(frozen=True)
class RecentRun:
    """A row of the schedule page's recent runs, its times and durations shown as everywhere else."""

    pk: int
    fire_time: str
    badge: Any
    manual: bool
    started: str
    lateness: str
    duration: str
    worker: str
    result: str

    @classmethod
    def of(cls, execution: Execution) -> RecentRun:
        return cls(
            pk=execution.pk,
            fire_time=local_time(execution.fire_time),
            badge=run_status(execution),
            manual=execution.manual,
            started=time_of_day(execution.started_at, reference=execution.fire_time),
            lateness=seconds(execution.lateness),
            duration=seconds(execution.duration),
            worker=execution.worker,
            result=execution.result or execution.exception,
        )


def preview_description(form: Any, obj: Schedule | None) -> str:
    """The trigger in words above the preview: of the submitted values when they are valid, else of the saved
    schedule."""
    cleaned = getattr(form, "cleaned_data", None) or {}
    if cleaned.get("trigger") and cleaned.get("timezone"):
        return describe_trigger(cleaned["trigger"], cleaned["timezone"])
    return describe_trigger(obj.trigger, obj.timezone) if obj is not None else ""


def breakable_name(name: str) -> Any:
    """A dotted or underscored name ("celery.backend_cleanup") that may wrap after its dots and underscores only,
    so a narrow column breaks it between words, never inside one."""
    parts = re.split(r"(?<=[._])", name)
    return format_html_join(mark_safe("<wbr>"), "{}", ((part,) for part in parts))


def executions_url(schedule: Schedule, **filters: str) -> str:
    """The execution list filtered to this schedule's runs (and ``filters``)."""
    query = urlencode(
        {"schedule__id__exact": schedule.pk, **{f"{name}__exact": value for name, value in filters.items()}}
    )
    return f"{reverse('admin:beat_store_execution_changelist')}?{query}"


def _count_of(runs: QuerySet[Execution]) -> Coalesce:
    return Coalesce(Subquery(runs.order_by().values("schedule").annotate(count=Count("pk")).values("count")[:1]), 0)


def unique_copy_name(name: str) -> str:
    """``"report (copy)"``, then ``"report (copy 2)"``, ... the first name no schedule has."""
    base = f"{name} (copy"
    taken = set(Schedule.objects.filter(name__startswith=base).values_list("name", flat=True))
    candidate, number = f"{base})", 2
    while candidate in taken:
        candidate, number = f"{base} {number})", number + 1
    return candidate[:200]
