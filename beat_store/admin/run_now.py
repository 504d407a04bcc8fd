"""The schedule page's "Run now with...": one run with keyword arguments of its own, optionally forced."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from beat_store.forms.run_now import RunNowForm

if TYPE_CHECKING:
    from beat_store.admin.schedules import ScheduleAdmin


def run_now_with_view(model_admin: ScheduleAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    if not model_admin.has_operate_permission(request):
        raise PermissionDenied
    schedule = model_admin.get_object(request, object_id)
    if schedule is None:
        raise Http404(f"No schedule with id {object_id!r}.")
    posted = request.POST if request.method == "POST" else None
    form = RunNowForm(posted, schedule_kwargs=dict(schedule.kwargs) if isinstance(schedule.kwargs, dict) else {})
    if posted is not None and form.is_valid():
        try:
            model_admin.run_now(request, schedule, kwargs=form.cleaned_data["kwargs"], force=form.cleaned_data["force"])
        except ValidationError as error:
            form.add_error("kwargs", error.message_dict.get("kwargs", error.messages))
        else:
            return HttpResponseRedirect(reverse("admin:beat_store_schedule_change", args=[schedule.pk]))
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "title": f"Run {schedule.name} now",
        "opts": model_admin.opts,
        "original": schedule,
        "form": form,
    }
    return TemplateResponse(request, "beat_store/admin/schedule_run_now.html", context)
