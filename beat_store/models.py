"""Schedules (what to run and when) and executions (what happened to each run)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, ProhibitNullCharactersValidator
from django.db import models, router, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone as dj_timezone

from beat_store import task_defaults
from beat_store.compat import check_constraint
from beat_store.conf import settings
from beat_store.db.lookups import IdsIn
from beat_store.db.partial_indexes import without_replaced_warnings
from beat_store.enums import CoalescePolicy, ExecutionStatus, ScheduleSource, TriggerKind
from beat_store.exceptions import InvalidTrigger, TriggerGaveUp
from beat_store.limits import (
    MAX_JSON_BYTES,
    LimitExceeded,
    check_json_value,
    check_moment,
    check_seconds,
    check_text,
    reserved_header,
)
from beat_store.planning import TimingPolicy
from beat_store.timezones import format_moment, get_zone
from beat_store.triggers import Trigger, anchor_of, build_trigger, validate_trigger_spec

#: What defines a schedule (everything a user sets; no state): the fields of docs/spec.md, in its order.
DEFINITION_FIELDS = (
    "name",
    "description",
    "task",
    "args",
    "kwargs",
    "trigger",
    "timezone",
    "start_at",
    "end_at",
    "coalesce",
    "misfire_grace_time",
    "max_instances",
    "jitter",
    "paused",
    "queue",
    "exchange",
    "routing_key",
    "priority",
    "expires",
    "headers",
    "keep_runs_days",
    "metadata",
)

_NOT_LOADED = object()

#: Columns beat owns; a save that does not change timing does not write them.
BEAT_STATE_FIELDS = ("next_fire_at", "last_fire_at", "finished_at")

#: Fields whose change means the stored ``next_fire_at`` no longer follows from the schedule.
TIMING_FIELDS = ("trigger", "timezone", "start_at", "end_at")


class UnescapedJSONEncoder(json.JSONEncoder):
    """JSON with non-ASCII characters written as they are (``"é"``, not ``"\\u00e9"``).

    SQLite and MariaDB store a JSONField as the encoded text: with Django's default escapes, the admin's search
    (which reads that text, see ScheduleAdmin.get_search_results) would not find "café" in ``{"team": "café"}``.
    PostgreSQL and MySQL store JSON parsed, so this changes nothing there.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "ensure_ascii": False})


def _default_timezone() -> str:
    return settings.DEFAULT_TIMEZONE


def validate_timezone_name(value: str) -> None:
    try:
        get_zone(value)
    except InvalidTrigger as error:
        raise ValidationError(error.reason, code="invalid_timezone") from error


class ScheduleQuerySet(models.QuerySet["Schedule"]):
    def active(self) -> ScheduleQuerySet:
        return self.filter(paused=False, next_fire_at__isnull=False)

    def due(self, now: datetime) -> ScheduleQuerySet:
        return self.filter(paused=False, next_fire_at__lte=now)

    def unplanned(self) -> ScheduleQuerySet:
        """Rows written without save() (bulk_create, update()): beat gives them their first fire time."""
        return self.filter(next_fire_at__isnull=True, finished_at__isnull=True, paused=False)

    def with_upcoming_fire(self) -> ScheduleQuerySet:
        """Annotate ``upcoming_fire_at``, the next fire time as people read it (:attr:`Schedule.upcoming_fire_at`).

        One correlated subquery per row, on the history index (schedule, -fire_time): what the admin's list, the
        listing and the per-schedule metrics show without a query per schedule.
        """
        first_staged = _staged_runs().order_by("fire_time").values("fire_time")[:1]
        return self.annotate(upcoming_fire_at=Coalesce(Subquery(first_staged), F("next_fire_at")))

    def finished(self) -> ScheduleQuerySet:
        """Schedules whose trigger ran out of fire times and that have no run decided ahead left to release."""
        return self.filter(next_fire_at__isnull=True, finished_at__isnull=False).filter(~Exists(_staged_runs()))

    def unfinished(self) -> ScheduleQuerySet:
        """Every schedule :meth:`finished` leaves out (paused ones included)."""
        return self.filter(Q(next_fire_at__isnull=False) | Q(finished_at__isnull=True) | Exists(_staged_runs()))


def _staged_runs() -> ExecutionQuerySet:
    """The runs of the outer query's schedule that were decided ahead and are not yet released."""
    return Execution.objects.staged().filter(schedule=OuterRef("pk"))


class Schedule(models.Model):
    """A named task with a trigger and the policy that turns its fire times into runs."""

    name = models.CharField(max_length=200, unique=True, help_text="Unique; the schedule's identity.")
    description = models.TextField(blank=True)
    task = models.CharField(max_length=200, help_text="Name of the Celery task, e.g. 'proj.tasks.report'.")
    args = models.JSONField(default=list, blank=True, help_text="Positional arguments, a JSON list.")
    kwargs = models.JSONField(default=dict, blank=True, help_text="Keyword arguments, a JSON object.")

    trigger = models.JSONField(help_text="Trigger spec: when the schedule fires (see the docs).")
    trigger_kind = models.CharField(max_length=20, choices=TriggerKind.choices, editable=False, db_index=True)
    timezone = models.CharField(
        max_length=63,
        default=_default_timezone,
        validators=[validate_timezone_name],
        help_text="IANA zone (e.g. 'Europe/Paris') in which cron and calendar triggers read the wall clock.",
    )
    start_at = models.DateTimeField(null=True, blank=True, help_text="No fire time before this moment.")
    end_at = models.DateTimeField(null=True, blank=True, help_text="No fire time after this moment.")

    # Null: unset, so BEAT_STORE_TASK_DEFAULTS (beat_store.task_defaults) or the built-in default applies.
    coalesce = models.CharField(
        max_length=10,
        choices=CoalescePolicy.choices,
        null=True,
        blank=True,
        default=None,
        help_text="Which of several fire times missed together become runs; empty: the task's default, else latest.",
    )
    misfire_grace_time = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Seconds a run may start late; empty means no deadline.",
    )
    keep_runs_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Days to keep this schedule's finished runs; empty: BEAT_STORE_KEEP_RUNS_DAYS.",
    )
    max_instances = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=None,
        validators=[MinValueValidator(1)],
        help_text="Runs of this schedule that may be open at once; a run beyond it is skipped. Empty: the task's "
        "default, else 1.",
    )
    jitter = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Delay each run by a random number of seconds up to this value.",
    )
    paused = models.BooleanField(default=False, help_text="A paused schedule does not fire.")

    queue = models.CharField(max_length=200, blank=True)
    exchange = models.CharField(max_length=200, blank=True)
    routing_key = models.CharField(max_length=200, blank=True)
    priority = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(255)], help_text="Message priority, 0-255."
    )
    expires = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Seconds after sending when a worker should no longer start the run.",
    )
    headers = models.JSONField(default=dict, blank=True, help_text="Extra message headers, a JSON object.")
    # Not a timing field (TIMING_FIELDS) and never sent with a run: editing it alone leaves next_fire_at be.
    metadata = models.JSONField(
        default=dict,
        blank=True,
        encoder=UnescapedJSONEncoder,
        help_text="Your own notes on the schedule (owner, ticket, team...), a JSON object; never sent to the task.",
    )

    next_fire_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_fire_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the trigger ran out of fire times."
    )
    last_error = models.TextField(blank=True, editable=False, help_text="Why beat paused this schedule.")
    source = models.CharField(max_length=10, choices=ScheduleSource.choices, default=ScheduleSource.ADMIN)
    # Null rather than "": a column with a default makes SQLite rebuild the table, dropping migration 0007's trigger.
    source_file = models.CharField(
        max_length=500,
        null=True,
        blank=True,
        editable=False,
        help_text="For source 'file': the BEAT_STORE_SCHEDULE_FILES file that declares it.",
    )

    created_at = models.DateTimeField(
        default=dj_timezone.now,
        editable=False,
        help_text="Anchors interval and calendar triggers without start_at.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScheduleQuerySet.as_manager()

    class Meta:
        ordering = ("name",)
        indexes = [
            # The only index a tick reads: due rows, without the paused ones.
            models.Index(fields=["next_fire_at"], name="beat_store_sched_due_idx", condition=Q(paused=False)),
            # Rows written without save() (bulk_create, update()) wait here for beat to plan them.
            models.Index(
                fields=["id"],
                name="beat_store_sched_unplanned_idx",
                condition=Q(next_fire_at__isnull=True, finished_at__isnull=True, paused=False),
            ),
            # Retention reads the few schedules with an override at every batch: without an index that read
            # would grow with every schedule stored. Plain, not partial: MySQL has no partial index.
            models.Index(fields=["keep_runs_days"], name="beat_store_sched_keep_idx"),
        ]
        constraints = [
            check_constraint(Q(trigger_kind__in=TriggerKind.values), name="beat_store_schedule_trigger_kind"),
            check_constraint(Q(coalesce__in=CoalescePolicy.values), name="beat_store_schedule_coalesce"),
            check_constraint(Q(max_instances__gte=1), name="beat_store_schedule_max_instances"),
            check_constraint(
                Q(misfire_grace_time__isnull=True) | Q(misfire_grace_time__gte=0),
                name="beat_store_schedule_misfire_grace_time",
            ),
            check_constraint(Q(jitter__isnull=True) | Q(jitter__gte=0), name="beat_store_schedule_jitter"),
            check_constraint(
                Q(start_at__isnull=True) | Q(end_at__isnull=True) | Q(end_at__gte=models.F("start_at")),
                name="beat_store_schedule_bounds",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, first recomputing ``next_fire_at`` when the trigger or its bounds changed.

        The recomputation is pure (no query), so an edit made anywhere (admin, ORM, ``add_schedule``) is what
        beat reads at its next poll; rows written with ``QuerySet.update()`` or ``bulk_create`` are planned by
        beat instead, from ``next_fire_at IS NULL AND finished_at IS NULL``.

        Runs decided ahead for this schedule and not yet released are withdrawn in the same transaction
        (``beat_store.staged_runs``); when this save leaves the timing as it was, the next fire time goes back to
        the first of them, so that beat decides them again from the saved row.
        """
        if self._state.adding or self.pk is None:
            self._save(*args, **kwargs)
            return
        from beat_store import staged_runs  # staged_runs imports this module

        with transaction.atomic(using=router.db_for_write(Schedule, instance=self)):
            # The row first, then its runs: the order a tick's planning and release take them in.
            list(Schedule.objects.select_for_update().filter(pk=self.pk).values_list("pk"))
            earliest = staged_runs.withdraw_for_edit(self.pk)
            writes_next_fire = self._save(*args, **kwargs)
            if earliest is not None and not writes_next_fire and staged_runs.rewind(self.pk, to=earliest):
                self.next_fire_at, self.finished_at = earliest, None

    def _save(self, *args: Any, **kwargs: Any) -> bool:
        """:meth:`save` itself; return whether it wrote ``next_fire_at``."""
        trigger = self.__dict__.get("trigger")  # not getattr: a deferred trigger stays unloaded
        if isinstance(trigger, dict) and isinstance(trigger.get("type"), str):
            self.trigger_kind = trigger["type"]
        timing_changed = self._timing_snapshot() != getattr(self, "_loaded_timing", None)
        if timing_changed:
            self.reschedule(dj_timezone.now(), from_start=self._state.adding)
        elif not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            # Timing unchanged: leave beat's state columns alone, so a form opened before beat advanced the
            # schedule cannot rewind it.
            kwargs["update_fields"] = [
                f.attname for f in self._meta.concrete_fields if not f.primary_key and f.name not in BEAT_STATE_FIELDS
            ]
        super().save(*args, **kwargs)
        self._loaded_timing = self._timing_snapshot()
        self._loaded_paused = self.__dict__.get("paused")
        update_fields = kwargs.get("update_fields")
        return timing_changed or (update_fields is not None and "next_fire_at" in update_fields)

    @classmethod
    def check(cls, **kwargs: Any) -> list[Any]:
        # On MySQL/MariaDB, migration 0005 builds the partial indexes Django skips: its warnings would mislead.
        return without_replaced_warnings(super().check(**kwargs))

    def clean_fields(self, exclude: Any = None) -> None:
        """Field validation, and first the limits of docs/spec.md "Limits" that Django's validators cannot
        express (a NaN passes ``MinValueValidator``; a JSON value nested a million deep breaks the encoder)."""
        errors = self._limit_errors()
        try:
            super().clean_fields(exclude={*(exclude or ()), *errors})
        except ValidationError as error:
            errors.update(error.message_dict)
        if errors:
            raise ValidationError(errors)

    def _limit_errors(self) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        json_fields = (
            ("args", "Positional arguments"),
            ("kwargs", "Keyword arguments"),
            ("headers", "Headers"),
            ("trigger", "Trigger"),
            ("metadata", "Metadata"),
        )
        for name, what in json_fields:
            try:
                check_json_value(getattr(self, name), max_bytes=MAX_JSON_BYTES)
            except LimitExceeded as error:
                errors[name] = [f"{what}: {error}."]
        for name in ("jitter", "misfire_grace_time", "expires"):
            value = getattr(self, name)
            if isinstance(value, float | int) and not isinstance(value, bool):
                try:
                    check_seconds(float(value))
                except (LimitExceeded, OverflowError) as error:
                    errors[name] = [f"{str(error)[:1].upper()}{str(error)[1:]}."]
        for name in ("max_instances", "priority", "keep_runs_days"):
            value = getattr(self, name)
            if isinstance(value, float) and not value.is_integer():  # Django's int() would fail on inf or NaN
                errors[name] = [f"Must be a whole number, not {value!r}."]
        for name in ("start_at", "end_at"):
            value = getattr(self, name)
            if isinstance(value, datetime):
                try:
                    check_moment(value)
                except LimitExceeded as error:
                    errors[name] = [f"{error}."]
                    continue
                if value.utcoffset() is None:
                    # add_schedule reads a naive bound in the schedule's zone (when that zone is valid).
                    errors[name] = ["Must be timezone-aware (a date-time with a UTC offset)."]
        for name in ("name", "task", "queue", "exchange", "routing_key", "timezone", "description"):
            value = getattr(self, name)
            if isinstance(value, str) and "\x00" in value:
                errors[name] = [str(ProhibitNullCharactersValidator.message)]
            elif isinstance(value, str):
                try:
                    check_text(value)
                except LimitExceeded as error:
                    errors[name] = [f"{str(error)[:1].upper()}{str(error)[1:]}."]
        return errors

    def clean(self) -> None:
        super().clean()
        try:
            self.trigger = validate_trigger_spec(self.trigger)
        except InvalidTrigger as error:
            raise ValidationError({"trigger": f"{error}"}, code="invalid_trigger") from error
        self.trigger_kind = self.trigger["type"]
        bounds = [moment for moment in (self.start_at, self.end_at) if isinstance(moment, datetime)]
        if any(moment.utcoffset() is None for moment in bounds):
            return  # clean_fields reported the naive bound; nothing below can be decided without it
        if self.start_at and self.end_at and self.end_at < self.start_at:
            raise ValidationError({"end_at": "The end must not come before the start."})
        if not isinstance(self.args, list):
            raise ValidationError({"args": "Positional arguments must be a JSON list."})
        if not isinstance(self.kwargs, dict):
            raise ValidationError({"kwargs": "Keyword arguments must be a JSON object."})
        if not isinstance(self.headers, dict):
            raise ValidationError({"headers": "Headers must be a JSON object."})
        if not isinstance(self.metadata, dict):
            raise ValidationError({"metadata": 'Metadata must be a JSON object, e.g. {"owner": "ops"}.'})
        reserved = sorted(name for name in self.headers if reserved_header(name))
        if reserved:
            raise ValidationError(
                {
                    "headers": f"{', '.join(map(repr, reserved))}: Celery and beat_store set these headers on every "
                    "message themselves (the task's id, name and limits); choose other names."
                }
            )
        self._check_first_fire_time()

    def _check_trigger_builds(self) -> Trigger | None:
        """What only the zone and bounds can tell (a member's bound in a DST gap, a naive bound) is refused here,
        as a ValidationError, rather than by save() computing the first fire time."""
        try:
            return self.build_trigger()
        except InvalidTrigger as error:
            if error.field == "timezone":
                return None  # the field's own validator reports it
            field = error.field if error.field in ("start_at", "end_at") else "trigger"
            raise ValidationError({field: f"{error}" if field == "trigger" else error.reason}) from error

    def _check_first_fire_time(self) -> None:
        """The fire time save() will compute, computed here first, so that a trigger too costly to evaluate
        (``TriggerTooSlow``) or one whose members never agree is a form error, not a failed save."""
        trigger = self._check_trigger_builds()
        if trigger is None:
            return
        after = self.anchor if self._state.adding else dj_timezone.now()
        try:
            found = trigger.next_at_or_after(after)
        except TriggerGaveUp as error:
            raise ValidationError({"trigger": str(error)}, code="trigger_gave_up") from error
        except OverflowError:
            raise ValidationError(
                {"trigger": "The next fire time lies past the last date Python can hold (year 9999)."}
            ) from None
        # save() needs the same answer: kept, so that a costly trigger is not computed twice (see reschedule).
        self._first_fire_time = (self._timing_snapshot(), self.anchor, after, found)

    def validate_constraints(self, exclude: Any = None) -> None:
        # An invalid trigger has no kind yet: its own error says why, not the kind's check constraint.
        if self.trigger_kind not in TriggerKind.values:
            exclude = {*(exclude or ()), "trigger_kind"}
        super().validate_constraints(exclude=exclude)

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any, **kwargs: Any) -> Schedule:
        instance = super().from_db(db, field_names, values, **kwargs)
        instance._loaded_timing = instance._timing_snapshot()
        instance._loaded_paused = instance.__dict__.get("paused")  # schedule_changed tells pauses from edits
        return instance

    def reschedule(self, now: datetime, *, from_start: bool = False) -> None:
        """Recompute ``next_fire_at`` (no save).

        ``from_start`` (a new schedule): its trigger's first fire time at or after ``start_at`` (default: its
        creation), so a ``start_at`` in the past makes past fire times due at once (spec rule 8). Otherwise (an
        edit): the first fire time at or after ``now``, so editing a trigger never replays history.
        """
        after = self.anchor if from_start else now
        known = self.__dict__.pop("_first_fire_time", None)
        if known is not None and known[:2] == (self._timing_snapshot(), self.anchor) and _still_next(known, after):
            self.next_fire_at = known[3]  # computed by clean() from the same timing; nothing fell in between
        else:
            self.next_fire_at = self.build_trigger().next_at_or_after(after)
        self.finished_at = None if self.next_fire_at else now
        self.last_error = ""

    @property
    def anchor(self) -> datetime:
        """See :func:`beat_store.triggers.anchor_of`."""
        return anchor_of(self.start_at, self.created_at)

    def build_trigger(self) -> Trigger:
        """The trigger object for this row: spec, zone, bounds, anchored at :attr:`anchor`."""
        return build_trigger(
            self.trigger,
            timezone=self.timezone,
            anchor=self.anchor,
            start_at=self.start_at,
            end_at=self.end_at,
        )

    def timing_policy(self) -> TimingPolicy:
        """How this schedule turns due fire times into runs (coalesce, grace time, max instances, jitter): its own
        values, or for those it leaves unset, its task's defaults (``BEAT_STORE_TASK_DEFAULTS``)."""
        return TimingPolicy(
            coalesce=CoalescePolicy(self.option("coalesce")),
            misfire_grace_time=self.option("misfire_grace_time"),
            max_instances=self.option("max_instances"),
            jitter=self.option("jitter"),
        )

    def option(self, field: str) -> Any:
        """The value of one of ``task_defaults.FIELDS`` for this schedule: its own, else its task's default."""
        return task_defaults.value(self.task, field, getattr(self, field))

    def option_origin(self, field: str) -> task_defaults.Resolved:
        """:meth:`option` with where the value comes from (the schedule, settings, or beat_store's default)."""
        return task_defaults.resolve(self.task, field, getattr(self, field))

    @property
    def upcoming_fire_at(self) -> datetime | None:
        """The next fire time as the admin, ``beat_store_list`` and the metrics show it: the first run decided ahead
        and not yet released (``beat_store.staged_runs``), else ``next_fire_at``.

        ``next_fire_at`` is beat's planning cursor: deciding a run ahead moves it past that run's fire time, which
        is still the next time the schedule fires. Read from :meth:`ScheduleQuerySet.with_upcoming_fire`'s
        annotation when the row was loaded with it; else one query, at every read.
        """
        if "_upcoming_fire_at" in self.__dict__:
            annotated: datetime | None = self.__dict__["_upcoming_fire_at"]
            return annotated
        if self.pk is None:
            return self.next_fire_at
        first_staged = (
            Execution.objects.staged()
            .filter(schedule_id=self.pk)
            .order_by("fire_time")
            .values_list("fire_time", flat=True)
            .first()
        )
        return first_staged if first_staged is not None else self.next_fire_at

    @upcoming_fire_at.setter
    def upcoming_fire_at(self, value: datetime | None) -> None:
        # Where Django puts the annotation of with_upcoming_fire() when it loads the row.
        self.__dict__["_upcoming_fire_at"] = value

    @property
    def is_finished(self) -> bool:
        """The trigger ran out of fire times and no run decided ahead is left to release (a ``date`` trigger
        whose run is staged is finished for beat, not yet for people). Queries only in that last case, and not
        when loaded with :meth:`ScheduleQuerySet.with_upcoming_fire`."""
        return self.next_fire_at is None and self.finished_at is not None and self.upcoming_fire_at is None

    def _timing_snapshot(self) -> tuple[Any, ...]:
        # Read from __dict__, not getattr: a field deferred by .only() must not be fetched (nor count as changed).
        return tuple(self.__dict__.get(name, _NOT_LOADED) for name in TIMING_FIELDS)


def _still_next(known: tuple[Any, ...], after: datetime) -> bool:
    """Is the fire time clean() found from ``known[2]`` also the first at or after ``after``? Yes when looked
    for from the same moment, or from an earlier one with the answer still ahead (none can lie in between)."""
    searched_from, found = known[2], known[3]
    return bool(searched_from == after or (searched_from <= after and (found is None or found >= after)))


#: ``Execution.lease_owner`` of a pending run whose message is staged in the broker (``beat_store.staged_runs``):
#: held for the release at its send time, not for a beat.
STAGED = "beat_store:staged"

#: Runs holding one of their schedule's max-instances slots: open ones, but not those staged ahead (their verdict is
#: taken at their release). The condition of the partial index ``beat_store_exec_slot_idx``: a query counting slots
#: must repeat it word for word for PostgreSQL to use the index (``beat_store.db.slots``).
HOLDS_SLOT = Q(status__in=[ExecutionStatus.SENT, ExecutionStatus.STARTED, ExecutionStatus.RETRYING]) | (
    Q(status=ExecutionStatus.PENDING) & ~Q(lease_owner=STAGED)
)


class ExecutionQuerySet(models.QuerySet["Execution"]):
    def open(self) -> ExecutionQuerySet:
        return self.filter(status__in=ExecutionStatus.open_values())

    def staged(self) -> ExecutionQuerySet:
        """Runs decided ahead whose message waits in the broker for its send time: not yet released."""
        return self.filter(status=ExecutionStatus.PENDING, lease_owner=STAGED)


class Execution(models.Model):
    """What happened to one run of a schedule: one row per (schedule, fire time), plus manual runs."""

    # No index of its own: beat_store_exec_history_idx (schedule, -fire_time) serves every lookup by schedule, and
    # each index is written again for every run recorded or updated.
    schedule = models.ForeignKey(
        Schedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="executions", db_index=False
    )
    schedule_name = models.CharField(max_length=200, help_text="Kept when the schedule is deleted.")
    task = models.CharField(max_length=200)
    fire_time = models.DateTimeField(help_text="The designated fire time, before jitter.")
    jitter = models.FloatField(default=0, help_text="Seconds the dispatch was delayed by jitter.")
    manual = models.BooleanField(default=False, help_text="Started with 'run now', not by the trigger.")
    forced = models.BooleanField(
        default=False, help_text="A 'run now' with force: sent even when max instances were already open."
    )
    task_id = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING)

    send_at = models.DateTimeField(help_text="When beat hands the run to the broker: fire time plus jitter.")
    deadline_at = models.DateTimeField(
        null=True, blank=True, help_text="Start deadline: fire time + jitter + misfire grace time."
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    retries = models.PositiveIntegerField(default=0, help_text="How many times the task was retried.")
    result = models.TextField(blank=True)
    exception = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    kwargs_override = models.JSONField(
        null=True,
        blank=True,
        help_text="Keyword arguments given to 'run now', used instead of the schedule's.",
    )

    publish_attempted_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Set just before the message went to the broker: a pending run with it set may be there already.",
    )
    staged_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text=(
            "When the run was decided ahead and its message staged in the broker, to be released at its send time."
        ),
    )
    lease_owner = models.CharField(max_length=100, blank=True, editable=False)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ExecutionQuerySet.as_manager()

    class Meta:
        ordering = ("-fire_time", "-id")
        permissions = [("manage_execution", "Can mark open runs lost and revoke them")]
        indexes = [
            models.Index(fields=["schedule", "-fire_time"], name="beat_store_exec_history_idx"),
            # The admin's global history, newest first.
            models.Index(fields=["-fire_time", "-id"], name="beat_store_exec_recent_idx"),
            models.Index(fields=["status", "send_at"], name="beat_store_exec_status_idx"),
            # Max-instances slots per schedule, read for every batch of a herd: only the runs holding one (a few
            # per schedule), not its whole history nor the runs of the herd itself. On MySQL/MariaDB, migration
            # 0016 builds it on a generated column instead (no partial indexes there).
            models.Index(fields=["schedule"], name="beat_store_exec_slot_idx", condition=HOLDS_SLOT),
            # Declared here rather than with db_index=True: on PostgreSQL that adds a second, "_like" index for
            # prefix searches nobody makes, written again for every run.
            models.Index(fields=["task_id"], name="beat_store_exec_task_id_idx"),
            models.Index(fields=["schedule_name"], name="beat_store_exec_sched_name_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "fire_time"],
                condition=Q(manual=False),
                name="beat_store_one_execution_per_fire_time",
            ),
            check_constraint(Q(status__in=ExecutionStatus.values), name="beat_store_execution_status"),
        ]

    def __str__(self) -> str:
        return f"{self.schedule_name} at {format_moment(self.fire_time)}"

    @classmethod
    def check(cls, **kwargs: Any) -> list[Any]:
        # On MySQL/MariaDB, migration 0005 builds the partial indexes Django skips: its warnings would mislead.
        return without_replaced_warnings(super().check(**kwargs))

    def wait(self, timeout: float | None = None, *, poll_interval: float = 0.1) -> Execution:
        """Wait until this run is final (succeeded, failed, revoked, missed, skipped or lost) and return it,
        refreshed; raise ``TimeoutError`` when it is not within ``timeout`` seconds (None: wait for ever).

        For shells and tests (``beat_store.run_now("x").wait(30).result``): it polls the database.
        """
        give_up_at = None if timeout is None else time.monotonic() + timeout
        while True:
            self.refresh_from_db()
            if self.status in ExecutionStatus.final_values():
                return self
            if give_up_at is not None and time.monotonic() >= give_up_at:
                raise TimeoutError(f"run {self.pk} of {self.schedule_name!r} is still {self.status} after {timeout} s")
            time.sleep(poll_interval)

    @property
    def is_staged(self) -> bool:
        """Decided ahead, its message staged in the broker, not yet released (see :meth:`ExecutionQuerySet.staged`)."""
        return self.status == ExecutionStatus.PENDING and self.lease_owner == STAGED

    @property
    def lateness(self) -> float | None:
        """Seconds between the designated fire time and the start on a worker."""
        if self.started_at is None:
            return None
        return (self.started_at - self.fire_time).total_seconds()

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def task_result(self) -> Any:
        """The django-celery-results ``TaskResult`` of this run, when that app is installed and has one."""
        if not apps.is_installed("django_celery_results"):
            return None
        task_result_model = apps.get_model("django_celery_results", "TaskResult")
        return task_result_model.objects.filter(task_id=self.task_id).first()


class BeatHeartbeat(models.Model):
    """The last time each running beat finished a tick: lets operators (and liveness probes) see beats."""

    owner = models.CharField(max_length=100, unique=True, help_text="host:pid:random of the beat process.")
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ("-seen_at",)

    def __str__(self) -> str:
        return f"{self.owner} @ {self.seen_at.isoformat()}"


# Herds update thousands of runs by id: one array parameter on PostgreSQL instead of one placeholder per id.
Execution._meta.pk.register_lookup(IdsIn)
