"""The schedule admin: list, form with trigger editor and preview, run-now/pause/resume/duplicate."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from beat_store import api
from beat_store.admin.chart import CHART_RUNS, ChartRun, render_run_chart
from beat_store.admin.display import in_zone, status_badge
from beat_store.enums import ExecutionStatus, ScheduleSource
from beat_store.exceptions import ScheduleLookupError
from beat_store.forms import ScheduleForm
from beat_store.models import Execution, Schedule
from beat_store.triggers import describe_trigger

RECENT_EXECUTIONS = 20
# Only settings are re-synced (at every beat start). A schedule made by add_schedule() in code stays editable:
# its default conflict policy "do_nothing" never overwrites edits.
DECLARED_SOURCES = (ScheduleSource.SETTINGS,)
DECLARED_WHERE = {
    ScheduleSource.SETTINGS: "in settings (Celery's beat_schedule or BEAT_STORE_SCHEDULES)",
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
        if value == "active":
            return queryset.filter(paused=False, finished_at__isnull=True)
        if value == "paused":
            return queryset.filter(paused=True)
        if value == "finished":
            return queryset.filter(next_fire_at__isnull=True, finished_at__isnull=False)
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
    list_display = ("name", "task", "trigger_description", "next_fire_time", "last_run", "state", "source")
    list_filter = (LastRunStatusFilter, StateFilter, "source", "trigger_kind", TaskFilter)
    search_fields = ("name", "task", "description")
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
        "next_fire_at",
        "last_fire_at",
        "finished_at",
        "last_error",
        "created_at",
        "updated_at",
    )
    readonly_fields = state_fields

    fieldsets = (
        (None, {"fields": ("name", "description", "task", "paused")}),
        ("Trigger", {"fields": ("trigger", "timezone", "start_at", "end_at")}),
        ("Arguments", {"fields": ("args", "kwargs")}),
        ("Timing policy", {"fields": ("coalesce", "misfire_grace_time", "max_instances", "jitter")}),
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
        js = ("beat_store/trigger_editor.js",)

    # --- list ---------------------------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[Schedule]:
        # One correlated subquery on the (schedule, -fire_time) index instead of a query per row.
        last = Execution.objects.filter(schedule=OuterRef("pk")).order_by("-fire_time", "-id").values("status")[:1]
        return super().get_queryset(request).annotate(last_status=Subquery(last))

    @admin.display(description="trigger")
    def trigger_description(self, schedule: Schedule) -> str:
        return describe_trigger(schedule.trigger, schedule.timezone)

    @admin.display(description="next fire time", ordering="next_fire_at")
    def next_fire_time(self, schedule: Schedule) -> str:
        return in_zone(schedule.next_fire_at, schedule.timezone)

    @admin.display(description="last run", ordering="last_status")
    def last_run(self, schedule: Schedule) -> Any:
        return status_badge(getattr(schedule, "last_status", None))

    @admin.display(description="state")
    def state(self, schedule: Schedule) -> Any:
        if schedule.last_error:
            return format_html('<span title="{}">paused (error)</span>', schedule.last_error)
        if schedule.paused:
            return "paused"
        if schedule.is_finished:
            return "finished"
        return "active"

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
            is_preview=getattr(form, "is_preview", False),
            declared_notice=self.declared_notice(obj),
            can_operate=can_operate,
            can_edit=obj is None or self.has_change_permission(request, obj),
        )
        if obj is not None:
            context.update(self.history_context(obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def declared_notice(self, obj: Schedule | None) -> str | None:
        if not is_declared(obj):
            return None
        assert obj is not None
        return (
            f"This schedule is declared {DECLARED_WHERE[ScheduleSource(obj.source)]}. It is read-only here: "
            "beat's next sync would undo any edit. Change its declaration instead. Run now, pause and resume "
            "still work; a 'paused' value in the declaration wins at the next sync."
        )

    def history_context(self, obj: Schedule) -> dict[str, Any]:
        recent = list(obj.executions.order_by("-fire_time", "-id")[:CHART_RUNS])
        runs = [ChartRun(run.fire_time, run.status, run.duration) for run in reversed(recent)]
        for run in recent:
            run.badge = status_badge(run.status)  # type: ignore[attr-defined]
        return {
            "run_chart": render_run_chart(runs),
            "recent_executions": recent[:RECENT_EXECUTIONS],
            "recent_limit": RECENT_EXECUTIONS,
            "executions_url": reverse("admin:beat_store_execution_changelist") + f"?schedule__id__exact={obj.pk}",
        }

    # --- operations (actions and object tools share them) ---------------------------------------------------

    def has_operate_permission(self, request: HttpRequest) -> bool:
        """Run now, pause, resume and duplicate need the change permission on schedules."""
        return super().has_change_permission(request)

    def run_now(self, request: HttpRequest, schedule: Schedule) -> None:
        try:
            execution = api.run_now(schedule.name)
        except ScheduleLookupError as error:
            self.message_user(request, str(error), messages.ERROR)
            return
        if execution.status == ExecutionStatus.SENT:
            self.message_user(
                request,
                f"Sent a run of {schedule.name!r} to Celery (task id {execution.task_id}).",
                messages.SUCCESS,
            )
        elif execution.status == ExecutionStatus.SKIPPED:
            reason = execution.result or f"max instances ({schedule.max_instances}) reached"
            self.message_user(
                request,
                f"Did not run {schedule.name!r}: {reason}. The run is recorded as skipped.",
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
            else f"fire times missed while paused are run per its coalesce policy ({resumed.coalesce})"
        )
        self.message_user(
            request,
            f"Resumed {schedule.name!r}: {how}; next fire time {in_zone(resumed.next_fire_at, resumed.timezone)}.",
            messages.SUCCESS,
        )

    def duplicate(self, request: HttpRequest, schedule: Schedule) -> Schedule:
        copy = Schedule.objects.get(pk=schedule.pk)
        copy.pk = None
        copy._state.adding = True
        copy.name = unique_copy_name(schedule.name)
        copy.paused = True
        copy.source = ScheduleSource.ADMIN
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

    @admin.action(description="Duplicate (paused copy)", permissions=["change"])
    def duplicate_action(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        for schedule in queryset:
            self.duplicate(request, schedule)

    # --- object tools: the same operations from the schedule page ------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        operations = {
            "run-now": lambda request, schedule: self.run_now(request, schedule),
            "pause": lambda request, schedule: self.pause(request, schedule),
            "resume-now": lambda request, schedule: self.resume(request, schedule, from_now=True),
            "resume-catch-up": lambda request, schedule: self.resume(request, schedule, from_now=False),
            "duplicate": lambda request, schedule: self.duplicate(request, schedule),
        }
        return [
            path(
                f"<path:object_id>/{slug}/",
                self.admin_site.admin_view(self._operation_view(operation)),
                name=f"beat_store_schedule_{slug.replace('-', '_')}",
            )
            for slug, operation in operations.items()
        ] + super().get_urls()

    def _operation_view(self, operation: Any) -> Any:
        def view(request: HttpRequest, object_id: str) -> HttpResponse:
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            if not self.has_operate_permission(request):
                raise PermissionDenied
            schedule = self.get_object(request, object_id)
            if schedule is None:
                raise Http404(f"No schedule with id {object_id!r}.")
            result = operation(request, schedule)
            target = result if isinstance(result, Schedule) else schedule
            return HttpResponseRedirect(reverse("admin:beat_store_schedule_change", args=[target.pk]))

        return view


def unique_copy_name(name: str) -> str:
    """``"report (copy)"``, then ``"report (copy 2)"``, ... the first name no schedule has."""
    base = f"{name} (copy"
    taken = set(Schedule.objects.filter(name__startswith=base).values_list("name", flat=True))
    candidate, number = f"{base})", 2
    while candidate in taken:
        candidate, number = f"{base} {number})", number + 1
    return candidate[:200]
