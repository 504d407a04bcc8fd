"""The execution admin: read-only run history, with filters, a detail page and pruning."""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from beat_store import executions
from beat_store.admin.display import EMPTY, run_status, seconds, time_of_day, timestamp_column
from beat_store.admin.schedules import TaskFilter
from beat_store.forms import PruneForm
from beat_store.models import Execution, ExecutionQuerySet, Schedule
from beat_store.pruning import prune_executions

SHORT_RESULT = 40


class ScheduleFilter(admin.SimpleListFilter):
    """Filter by schedule: the first schedules by name in the sidebar, any schedule through the URL (the link
    from a schedule's page), including one deleted since."""

    title = "schedule"
    parameter_name = "schedule__id__exact"
    limit = 100

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        choices = [
            (str(pk), name) for pk, name in Schedule.objects.order_by("name").values_list("pk", "name")[: self.limit]
        ]
        value = self.value()
        if value and value.isdigit() and value not in {pk for pk, _ in choices}:
            name = Execution.objects.filter(schedule_id=int(value)).values_list("schedule_name", flat=True).first()
            choices.append((value, name or f"schedule #{value}"))
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(schedule_id=int(value))
        return queryset


class StagedFilter(admin.SimpleListFilter):
    """The runs decided ahead and not yet released: ``pending`` for the status filter, like any run not sent."""

    title = "decided ahead"
    parameter_name = "staged"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("yes", "staged, not yet released")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            assert isinstance(queryset, ExecutionQuerySet)
            return queryset.staged()
        return queryset


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = (
        "fire_time_display",
        "schedule_link",
        "status_badge",
        "started",
        "duration_display",
        "worker_display",
        "short_result",
    )
    list_filter = (
        "status",
        StagedFilter,
        ScheduleFilter,
        TaskFilter,
        "manual",
        ("fire_time", admin.DateFieldListFilter),
    )
    date_hierarchy = "fire_time"
    search_fields = ("schedule_name", "task", "task_id", "worker")
    show_full_result_count = False
    list_per_page = 100
    raw_id_fields = ("schedule",)
    actions = ("mark_lost_action", "revoke_action", "prune_action")
    change_list_template = "beat_store/admin/execution_change_list.html"
    fieldsets = (
        (
            None,
            {"fields": ("schedule_link", "task", "status_badge", "manual", "task_id", "task_result_link")},
        ),
        (
            "Timing",
            {
                "fields": (
                    "fire_time_display",
                    "jitter_display",
                    "send_at_display",
                    "staged_at_display",
                    "deadline_at_display",
                    "sent_at_display",
                    "started_at_display",
                    "finished_at_display",
                    "lateness_display",
                    "duration_display",
                )
            },
        ),
        ("Outcome", {"fields": ("worker", "retries", "result", "exception", "traceback_display", "kwargs_override")}),
    )
    # An execution is history: every field shown is read-only.
    readonly_fields = tuple(str(name) for _, options in fieldsets for name in options["fields"])

    class Media:
        css = {"all": ("beat_store/admin.css",)}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # executions are written by beat and workers only

    def has_change_permission(self, request: HttpRequest, obj: Execution | None = None) -> bool:
        return False

    fire_time_display = timestamp_column("fire_time", "fire time")
    send_at_display = timestamp_column("send_at", "send at")
    staged_at_display = timestamp_column("staged_at", "staged")
    deadline_at_display = timestamp_column("deadline_at", "deadline")
    sent_at_display = timestamp_column("sent_at", "sent")
    started_at_display = timestamp_column("started_at", "started")
    finished_at_display = timestamp_column("finished_at", "finished")

    @admin.display(description="started", ordering="started_at")
    def started(self, execution: Execution) -> Any:
        # Lateness under the start time: one column fewer, so the list fits 1400 px.
        if execution.lateness is None:
            return time_of_day(execution.started_at, reference=execution.fire_time)
        return format_html(
            '{} <small title="lateness: start minus fire time">{}{}</small>',
            time_of_day(execution.started_at, reference=execution.fire_time),
            "+" if execution.lateness >= 0 else "",
            seconds(execution.lateness),
        )

    @admin.display(description="jitter")
    def jitter_display(self, execution: Execution) -> str:
        return seconds(execution.jitter)

    @admin.display(description="worker", ordering="worker")
    def worker_display(self, execution: Execution) -> Any:
        # Celery names workers "celery@host.domain": the host alone fits the column, the title keeps it all.
        if not execution.worker:
            return EMPTY
        host = execution.worker.rpartition("@")[2].split(".")[0]
        return format_html('<span title="{}">{}</span>', execution.worker, host)

    @admin.display(description="schedule", ordering="schedule_name")
    def schedule_link(self, execution: Execution) -> Any:
        if execution.schedule_id is None:
            return format_html("{} <em>(deleted)</em>", execution.schedule_name)
        url = reverse("admin:beat_store_schedule_change", args=[execution.schedule_id])
        return format_html('<a href="{}">{}</a>', url, execution.schedule_name)

    @admin.display(description="status", ordering="status")
    def status_badge(self, execution: Execution) -> Any:
        badge = run_status(execution)
        return format_html("{} <small>run now</small>", badge) if execution.manual else badge

    @admin.display(description="lateness")
    def lateness_display(self, execution: Execution) -> str:
        return seconds(execution.lateness)

    @admin.display(description="duration")
    def duration_display(self, execution: Execution) -> str:
        return seconds(execution.duration)

    @admin.display(description="result")
    def short_result(self, execution: Execution) -> str:
        text = execution.result or execution.exception
        return Truncator(text).chars(SHORT_RESULT) if text else EMPTY

    @admin.display(description="traceback")
    def traceback_display(self, execution: Execution) -> Any:
        if not execution.traceback:
            return EMPTY
        return format_html('<pre class="beat-store-traceback">{}</pre>', execution.traceback)

    @admin.display(description="task result")
    def task_result_link(self, execution: Execution) -> Any:
        task_result = execution.task_result
        if task_result is None:
            return EMPTY
        try:
            url = reverse("admin:django_celery_results_taskresult_change", args=[task_result.pk])
        except NoReverseMatch:
            return str(task_result.status)
        return format_html('<a href="{}">{} ({})</a>', url, task_result.task_id, task_result.status)

    # --- pruning --------------------------------------------------------------------------------------------

    def has_manage_permission(self, request: HttpRequest) -> bool:
        """May mark open runs lost and revoke them (permission ``beat_store.manage_execution``)."""
        return request.user.has_perm("beat_store.manage_execution")

    @admin.action(description="Mark selected open runs lost (frees their max-instances slot)", permissions=["manage"])
    def mark_lost_action(self, request: HttpRequest, queryset: QuerySet[Execution]) -> None:
        runs = executions.mark_lost_by(queryset.values_list("pk", flat=True), by=_who(request), at=timezone.now())
        self._record(request, runs, "Marked lost")
        self._report(request, runs, queryset, "marked lost", "only sent, started or retrying runs can be")

    @admin.action(description="Revoke selected open runs (and stop running ones)", permissions=["manage"])
    def revoke_action(self, request: HttpRequest, queryset: QuerySet[Execution]) -> None:
        runs = executions.revoke_by(queryset.values_list("pk", flat=True), by=_who(request), at=timezone.now())
        if runs:
            try:
                # Pending runs too: one a beat is sending at this moment is dropped by the workers on arrival.
                # terminate=True also stops a task already running (the worker signals its process).
                current_app.control.revoke([run.task_id for run in runs], terminate=True)
            except Exception as error:  # the broker is down: the records are revoked, the workers not told
                self.message_user(
                    request, f"Recorded as revoked, but the workers could not be told: {error}", messages.WARNING
                )
        self._record(request, runs, "Revoked")
        self._report(request, runs, queryset, "revoked", "only open runs can be")

    def _record(self, request: HttpRequest, runs: list[Execution], what: str) -> None:
        for run in runs:  # Django's admin history: who did it, and when
            self.log_change(request, run, f"{what} ({run.status} before).")

    def _report(
        self, request: HttpRequest, runs: list[Execution], queryset: QuerySet[Execution], done: str, rule: str
    ) -> None:
        skipped = queryset.count() - len(runs)
        text = f"{len(runs)} run(s) {done}."
        if skipped:
            text += f" {skipped} left as they were: {rule}."
        self.message_user(request, text, messages.SUCCESS if runs else messages.WARNING)

    @admin.action(description="Prune executions older than an age…", permissions=["delete"])
    def prune_action(self, request: HttpRequest, queryset: QuerySet[Execution]) -> HttpResponse:
        # Pruning is by age over the whole history, not the selection: send the user to the prune page.
        return HttpResponseRedirect(reverse("admin:beat_store_execution_prune"))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        can_prune = self.has_delete_permission(request)
        if can_prune and request.method == "POST" and request.POST.get("action") == "prune_action":
            # Django refuses an action with no row ticked before calling it; this one ignores the selection.
            return self.prune_action(request, self.get_queryset(request).none())
        return super().changelist_view(request, {**(extra_context or {}), "can_prune": can_prune})

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.prune_view)
        return [path("prune/", view, name="beat_store_execution_prune"), *super().get_urls()]

    def prune_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_delete_permission(request):
            raise PermissionDenied
        form = PruneForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            deleted = prune_executions(form.cleaned_data["older_than"], now=timezone.now())
            self.message_user(
                request,
                f"Deleted {deleted} execution(s) older than {form.data['older_than'].strip()}.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:beat_store_execution_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Prune executions",
            "opts": self.opts,
            "form": form,
        }
        return TemplateResponse(request, "beat_store/admin/execution_prune.html", context)


def _who(request: HttpRequest) -> str:
    """The operator, as recorded in a run's result."""
    return f"{request.user.get_username()} (admin)"
