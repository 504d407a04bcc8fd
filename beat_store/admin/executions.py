"""The execution admin: read-only run history, with filters, a detail page and pruning."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from beat_store.admin.display import EMPTY, compact_time, seconds, status_badge, time_of_day
from beat_store.forms import PruneForm
from beat_store.models import Execution
from beat_store.pruning import prune_executions

SHORT_RESULT = 60


class ScheduleIdFilter(admin.SimpleListFilter):
    """Filter by schedule through the URL (from a schedule's page) without a dropdown of every schedule."""

    title = "schedule"
    parameter_name = "schedule__id__exact"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        value = self.value()
        if not value or not value.isdigit():
            return []
        name = Execution.objects.filter(schedule_id=int(value)).values_list("schedule_name", flat=True).first()
        return [(value, name or f"schedule #{value}")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(schedule_id=int(value))
        return queryset


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = (
        "fire_time_display",
        "schedule_link",
        "status_badge",
        "sent",
        "started",
        "finished",
        "lateness_display",
        "duration_display",
        "worker",
        "short_result",
    )
    list_filter = ("status", ScheduleIdFilter, "manual", ("fire_time", admin.DateFieldListFilter))
    search_fields = ("schedule_name", "task", "task_id", "worker")
    show_full_result_count = False
    list_per_page = 100
    raw_id_fields = ("schedule",)
    actions = ("prune_action",)
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
                    "fire_time",
                    "jitter",
                    "send_at",
                    "deadline_at",
                    "sent_at",
                    "started_at",
                    "finished_at",
                    "lateness_display",
                    "duration_display",
                )
            },
        ),
        ("Outcome", {"fields": ("worker", "result", "exception", "traceback_display", "kwargs_override")}),
    )
    # An execution is history: every field shown is read-only.
    readonly_fields = tuple(str(name) for _, options in fieldsets for name in options["fields"])

    class Media:
        css = {"all": ("beat_store/admin.css",)}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # executions are written by beat and workers only

    def has_change_permission(self, request: HttpRequest, obj: Execution | None = None) -> bool:
        return False

    @admin.display(description="fire time", ordering="fire_time")
    def fire_time_display(self, execution: Execution) -> str:
        return compact_time(execution.fire_time)

    @admin.display(description="sent", ordering="sent_at")
    def sent(self, execution: Execution) -> str:
        return time_of_day(execution.sent_at, reference=execution.fire_time)

    @admin.display(description="started", ordering="started_at")
    def started(self, execution: Execution) -> str:
        return time_of_day(execution.started_at, reference=execution.fire_time)

    @admin.display(description="finished", ordering="finished_at")
    def finished(self, execution: Execution) -> str:
        return time_of_day(execution.finished_at, reference=execution.fire_time)

    @admin.display(description="schedule", ordering="schedule_name")
    def schedule_link(self, execution: Execution) -> Any:
        if execution.schedule_id is None:
            return format_html("{} <em>(deleted)</em>", execution.schedule_name)
        url = reverse("admin:beat_store_schedule_change", args=[execution.schedule_id])
        return format_html('<a href="{}">{}</a>', url, execution.schedule_name)

    @admin.display(description="status", ordering="status")
    def status_badge(self, execution: Execution) -> Any:
        badge = status_badge(execution.status)
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

    @admin.action(description="Prune executions older than an age…", permissions=["delete"])
    def prune_action(self, request: HttpRequest, queryset: QuerySet[Execution]) -> HttpResponse:
        # Pruning is by age over the whole history, not the selection: send the user to the prune page.
        return HttpResponseRedirect(reverse("admin:beat_store_execution_prune"))

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
