"""Scheduled tasks: a run-task request stored with when to run it, an EventBridge Scheduler
schedule that fires it, and what each firing does.

Consistency between the record and its schedule: the record is written first and the schedule
second (a failed schedule undoes the record), and deleted in the other order, so a schedule
never outlives its record for long, and a firing that finds no record is simply dropped.

A firing creates a normal task through ``TaskService.create_task`` (origin ``schedule``),
unless the scheduled task's previous run has not ended: then it is skipped and counted.
Deliveries are at least once (SQS), and may arrive together: every firing claims its
scheduled time on the record with a write conditional on the firing state's version, so one
scheduled time starts at most one task.
"""

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from browser_tasks.domain.ids import new_scheduled_task_id, new_task_id
from browser_tasks.domain.ports import (
    ScheduledTaskRepository,
    Schedules,
    SecretsCipher,
    TaskLookup,
)
from browser_tasks.domain.tasks import TaskService
from browser_tasks.errors import (
    InsufficientBalance,
    RequestInvalid,
    ScheduledTaskNotFound,
    ServiceUnavailable,
    TaskStartFailed,
)
from browser_tasks.models.cron import cron_times_after, rate_expression, to_aws_cron
from browser_tasks.models.error_detail import Problem
from browser_tasks.models.run_task import RunTaskRequest
from browser_tasks.models.scheduled_task import (
    FiringOutcome,
    FiringResult,
    FiringState,
    ScheduledTaskPage,
    ScheduledTaskRecord,
    ScheduledTaskRequest,
    ScheduledTaskUpdate,
    ScheduledTaskView,
    ScheduleFiring,
    SchedulePlan,
    ScheduleType,
)
from browser_tasks.models.task import TaskOrigin, utc_timestamp

logger = logging.getLogger(__name__)

DEFAULT_SCHEDULE_SPAN = timedelta(days=365)
# EventBridge Scheduler refuses a StartDate more than 5 minutes past. Within this much a
# start_at is sent as it is (the default, "now", is always a little past by then); an older
# one is moved to its next run, which keeps an interval schedule's runs where they were.
START_DATE_TOLERANCE = timedelta(minutes=4)
# A claimed run whose task has not appeared after this long was abandoned by a firing that
# died between its claim and create_task; the next firing may run again.
ABANDONED_RUN_AFTER = timedelta(minutes=15)
# Conflicting writes mean another delivery acted meanwhile: re-read and decide again.
CLAIM_ATTEMPTS = 3
# EventBridge Scheduler puts the firing's scheduled time here in the target's Input.
SCHEDULED_TIME_PLACEHOLDER = "<aws.scheduler.scheduled-time>"


def schedule_secrets_context(owner: str, scheduled_task_id: str) -> dict[str, str]:
    """KMS encryption context of a scheduled task's secrets: only that scheduled task's firings
    open them, and ``purpose`` lets an IAM condition give the trigger function these alone."""
    return {"owner": owner, "scheduled_task_id": scheduled_task_id, "purpose": "schedule"}


def firing_input(owner: str, scheduled_task_id: str) -> str:
    """The schedule target's Input: a ``ScheduleFiring`` once the time is filled in."""
    return json.dumps(
        {
            "kind": "schedule",
            "owner": owner,
            "scheduled_task_id": scheduled_task_id,
            "scheduled_time": SCHEDULED_TIME_PLACEHOLDER,
        }
    )


@dataclass(frozen=True)
class Timing:
    """When a scheduled task runs: every ``interval_minutes`` from ``start`` (EventBridge:
    "StartDate sets the first occurrence"), or at the cron expression's times from ``start``
    on; never after ``end``."""

    schedule_type: ScheduleType
    interval_minutes: int | None
    cron_expression: str | None
    start: datetime
    end: datetime

    @classmethod
    def of(cls, record: ScheduledTaskRecord) -> "Timing":
        return cls(
            record.schedule_type,
            record.interval_minutes,
            record.cron_expression,
            datetime.fromisoformat(record.start_at),
            datetime.fromisoformat(record.end_at),
        )

    def expression(self) -> str:
        """EventBridge Scheduler's ``rate(...)`` or ``cron(...)``."""
        if self.interval_minutes is not None:
            return rate_expression(self.interval_minutes)
        assert self.cron_expression is not None  # one or the other: _timing checked it
        return to_aws_cron(self.cron_expression)

    def next_run(self, at_or_after: datetime) -> datetime | None:
        """The first run at or after ``at_or_after``; None if there is none before ``end``."""
        moment = max(at_or_after, self.start)
        if self.interval_minutes is not None:
            interval = timedelta(minutes=self.interval_minutes)
            run = self.start + interval * math.ceil((moment - self.start) / interval)
        else:
            assert self.cron_expression is not None
            run = next(cron_times_after(self.cron_expression, moment - timedelta(seconds=1)))
        return run if run <= self.end else None


@dataclass(frozen=True)
class ScheduleService:
    schedules: ScheduledTaskRepository
    timers: Schedules
    cipher: SecretsCipher
    task_service: TaskService
    tasks: TaskLookup
    clock: Callable[[], datetime]

    # -- the API ------------------------------------------------------------------------

    def create(self, owner: str, request: ScheduledTaskRequest) -> ScheduledTaskRecord:
        """Store the scheduled task and create its schedule.

        Raises
        ------
        RequestInvalid
            The fields disagree (interval without interval_minutes, end_at before start_at…)
            or the schedule would never run.
        ServiceUnavailable
            DynamoDB, KMS or EventBridge Scheduler failed; nothing is left behind.
        """
        now = self.clock()
        timing = self._timing(request, now)
        # What run-task would refuse for this owner is refused now, not at every firing.
        self.task_service.checked_settings(owner, request)
        scheduled_task_id = new_scheduled_task_id(now)
        stamp = utc_timestamp(now)
        record = ScheduledTaskRecord(
            owner=owner,
            scheduled_task_id=scheduled_task_id,
            secrets_ciphertext=self._sealed(owner, scheduled_task_id, request),
            created_at=stamp,
            updated_at=stamp,
            **self._definition(request, timing),
        )
        self.schedules.create(record)
        try:
            self.timers.create(self._plan(record, now))
        except ServiceUnavailable:
            self.schedules.delete(owner, scheduled_task_id)
            raise
        return record

    def get(self, owner: str, scheduled_task_id: str) -> ScheduledTaskRecord:
        """The owner's scheduled task; another owner's id is as unknown as a made-up one."""
        record = self.schedules.get(owner, scheduled_task_id)
        if record is None:
            raise ScheduledTaskNotFound()
        return record

    def update(
        self, owner: str, scheduled_task_id: str, update: ScheduledTaskUpdate
    ) -> ScheduledTaskRecord:
        """Change the fields sent; the result must obey every rule a new one does.

        Switching ``schedule_type`` drops the other type's field unless it is sent too.
        ``is_active`` false disables the schedule (it stays, and can be enabled again).

        Raises
        ------
        ScheduledTaskNotFound
            Unknown id, or another owner's.
        RequestInvalid
            The merged scheduled task breaks a rule; nothing changed.
        ServiceUnavailable
            DynamoDB, KMS or EventBridge Scheduler failed; nothing changed.
        """
        current = self.get(owner, scheduled_task_id)
        now = self.clock()
        merged = self._merged(current, update)
        timing = self._timing(merged, now)
        self.task_service.checked_settings(owner, merged)
        is_active = current.is_active if update.is_active is None else update.is_active
        ciphertext = (
            self._sealed(owner, scheduled_task_id, update)
            if "secrets" in update.model_fields_set
            else current.secrets_ciphertext
        )
        record = current.model_copy(
            update={
                **self._definition(merged, timing),
                "is_active": is_active,
                "secrets_ciphertext": ciphertext,
                "updated_at": utc_timestamp(now),
            }
        )
        if not self.schedules.replace_definition(record):
            raise ScheduledTaskNotFound()  # deleted meanwhile
        try:
            self.timers.update(self._plan(record, now))
        except ServiceUnavailable:
            # Put the record back as it was, so it keeps agreeing with its schedule.
            self.schedules.replace_definition(current)
            raise
        return record

    def delete(self, owner: str, scheduled_task_id: str) -> None:
        """Delete the schedule, then the record: a firing already on its way finds no record
        and is dropped. Tasks it created are kept.

        Raises
        ------
        ScheduledTaskNotFound
            Unknown id, or another owner's.
        """
        self.get(owner, scheduled_task_id)
        self.timers.delete(scheduled_task_id)
        self.schedules.delete(owner, scheduled_task_id)

    def view(self, record: ScheduledTaskRecord) -> ScheduledTaskView:
        """What the API answers: never the secrets, which are not even in ``settings``."""
        firing = record.firing
        next_run = Timing.of(record).next_run(self.clock()) if record.is_active else None
        return ScheduledTaskView(
            id=record.scheduled_task_id,
            task=record.task,
            schedule_type=record.schedule_type,
            interval_minutes=record.interval_minutes,
            cron_expression=record.cron_expression,
            start_at=record.start_at,
            end_at=record.end_at,
            is_active=record.is_active,
            next_run_at=utc_timestamp(next_run) if next_run else None,
            created_at=record.created_at,
            updated_at=record.updated_at,
            runs_count=firing.runs_count,
            last_run_at=firing.last_run_at,
            last_task_id=firing.last_task_id,
            skipped_runs_count=firing.skipped_runs_count,
            last_skipped_at=firing.last_skipped_at,
            last_error=firing.last_error,
            metadata=record.metadata,
            **record.settings,
        )

    def page(self, owner: str, page: int, limit: int) -> ScheduledTaskPage:
        """One page of the owner's scheduled tasks, newest first."""
        total = self.schedules.count(owner)
        skip = (page - 1) * limit
        records = self.schedules.newest_first(owner, skip=skip, take=limit) if skip < total else []
        return ScheduledTaskPage(
            scheduled_tasks=[self.view(r) for r in records],
            total_pages=math.ceil(total / limit),
            page=page,
            limit=limit,
            total_count=total,
        )

    # -- firing -------------------------------------------------------------------------

    def fire(self, firing: ScheduleFiring) -> FiringResult:
        """Act on one delivery of a schedule's firing (the trigger function calls this, and
        logs what it did).

        Raises
        ------
        ServiceUnavailable
            A dependency failed before a task was created; the claim is released, so the
            redelivered message runs it.
        """
        at = utc_timestamp(firing.scheduled_time)

        def result(
            outcome: FiringOutcome, reason: str | None = None, task_id: str | None = None
        ) -> FiringResult:
            return FiringResult(
                outcome=outcome,
                scheduled_task_id=firing.scheduled_task_id,
                scheduled_time=at,
                task_id=task_id,
                reason=reason,
            )

        for _ in range(CLAIM_ATTEMPTS):
            record = self.schedules.get(firing.owner, firing.scheduled_task_id)
            if record is None:
                return result(FiringOutcome.DROPPED, "the scheduled task no longer exists")
            if not record.is_active:
                return result(FiringOutcome.DROPPED, "the scheduled task is not active")
            if not record.start_at <= at <= record.end_at:
                return result(FiringOutcome.DROPPED, "outside the schedule's start_at..end_at")
            state = record.firing
            if state.claimed_time is not None and at <= state.claimed_time:
                return result(FiringOutcome.DUPLICATE, "this scheduled time was handled")
            now = self.clock()
            if self._previous_run_going(state, now):
                skipped = state.model_copy(
                    update={
                        "version": state.version + 1,
                        "claimed_time": at,
                        "skipped_runs_count": state.skipped_runs_count + 1,
                        "last_skipped_at": at,
                    }
                )
                if self._save(record, skipped, state):
                    return result(FiringOutcome.SKIPPED, "the previous run has not ended")
                continue
            task_id = new_task_id(now)
            claimed = state.model_copy(
                update={
                    "version": state.version + 1,
                    "claimed_time": at,
                    "pending_task_id": task_id,
                    "pending_since": utc_timestamp(now),
                }
            )
            if self._save(record, claimed, state):
                outcome, reason = self._run(record, state, claimed, task_id)
                return result(
                    outcome, reason, task_id if outcome is FiringOutcome.STARTED else None
                )
        return result(FiringOutcome.DUPLICATE, "other deliveries kept changing the schedule")

    def _run(
        self,
        record: ScheduledTaskRecord,
        before: FiringState,
        claimed: FiringState,
        task_id: str,
    ) -> tuple[FiringOutcome, str | None]:
        """Create the claimed run's task and record what came of it."""
        try:
            request = self._run_task_request(record)
            self.task_service.create_task(
                record.owner,
                request,
                origin=TaskOrigin(kind="schedule", ref=record.scheduled_task_id),
                task_id=task_id,
            )
        # Refusals: retrying would meet the same one, so it is recorded for the owner instead.
        except (InsufficientBalance, RequestInvalid) as refused:
            self._settle(record, claimed, task_id=None, error=refused.detail)
            return FiringOutcome.REFUSED, refused.detail
        except ValidationError as invalid:  # the stored request no longer passes run-task's rules
            reason = f"The stored request is no longer valid ({invalid.error_count()} errors)"
            self._settle(record, claimed, task_id=None, error=reason)
            return FiringOutcome.REFUSED, reason
        except TaskStartFailed as failed:  # the task exists, marked failed
            self._settle(record, claimed, task_id=task_id, error=failed.detail)
            return FiringOutcome.REFUSED, failed.detail
        except Exception:
            # Nothing was created: give the scheduled time back so the redelivery runs it.
            released = before.model_copy(update={"version": claimed.version + 1})
            self._save(record, released, claimed)
            raise
        self._settle(record, claimed, task_id=task_id, error=None)
        return FiringOutcome.STARTED, None

    def _settle(
        self,
        record: ScheduledTaskRecord,
        claimed: FiringState,
        *,
        task_id: str | None,
        error: str | None,
    ) -> None:
        assert claimed.claimed_time is not None
        ran = task_id is not None
        settled = claimed.model_copy(
            update={
                "version": claimed.version + 1,
                "pending_task_id": None,
                "pending_since": None,
                "last_error": error,
                "runs_count": claimed.runs_count + 1 if ran else claimed.runs_count,
                "last_run_at": claimed.claimed_time if ran else claimed.last_run_at,
                "last_task_id": task_id if ran else claimed.last_task_id,
            }
        )
        if not self._save(record, settled, claimed):
            # Only a firing that judged this run abandoned writes in between; it has run.
            logger.warning(
                "Scheduled run not recorded",
                extra={"scheduled_task_id": record.scheduled_task_id, "task_id": task_id},
            )

    def _previous_run_going(self, state: FiringState, now: datetime) -> bool:
        """Whether the scheduled task's previous run has not ended: its task is created,
        running or paused, or a firing is creating it right now."""
        if state.pending_task_id is not None:
            pending = self.tasks.get(state.pending_task_id)
            if pending is None:
                assert state.pending_since is not None
                return now - datetime.fromisoformat(state.pending_since) < ABANDONED_RUN_AFTER
            return not pending.status.is_terminal
        if state.last_task_id is None:
            return False
        previous = self.tasks.get(state.last_task_id)
        return previous is not None and not previous.status.is_terminal

    def _save(self, record: ScheduledTaskRecord, new: FiringState, old: FiringState) -> bool:
        return self.schedules.save_firing(
            record.owner, record.scheduled_task_id, new, expected_version=old.version
        )

    def _run_task_request(self, record: ScheduledTaskRecord) -> RunTaskRequest:
        """The stored request with its secrets opened: what each run asks create_task for."""
        secrets = None
        if record.secrets_ciphertext is not None:
            context = schedule_secrets_context(record.owner, record.scheduled_task_id)
            try:
                secrets = json.loads(self.cipher.decrypt(record.secrets_ciphertext, context))
            except Exception as error:  # the SDK wraps KMS failures in several types
                raise ServiceUnavailable(
                    f"Decrypting the scheduled task's secrets failed ({type(error).__name__})"
                ) from error
        return RunTaskRequest.model_validate(
            {
                **_sent_settings(record),
                "task": record.task,
                "metadata": record.metadata or None,
                "secrets": secrets,
            }
        )

    # -- shared rules -------------------------------------------------------------------

    def _timing(self, request: ScheduledTaskRequest, now: datetime) -> Timing:
        """The rules between fields, on the whole (merged) request; defaults filled in.

        Times are kept to the second, as EventBridge Scheduler names them.
        """
        problems: list[Problem] = []
        wanted, other = (
            ("interval_minutes", "cron_expression")
            if request.schedule_type == "interval"
            else ("cron_expression", "interval_minutes")
        )
        if getattr(request, wanted) is None:
            problems.append(
                (
                    ["body", wanted],
                    f"Field required when schedule_type is {request.schedule_type!r}",
                    "missing",
                )
            )
        if getattr(request, other) is not None:
            problems.append(
                (
                    ["body", other],
                    f"Not allowed when schedule_type is {request.schedule_type!r}",
                    "value_error",
                )
            )
        start = (request.start_at or now).astimezone(UTC).replace(microsecond=0)
        end = (request.end_at or start + DEFAULT_SCHEDULE_SPAN).replace(microsecond=0)
        if end <= start:
            problems.append((["body", "end_at"], "Must be after start_at", "value_error"))
        elif end <= now:
            problems.append((["body", "end_at"], "Must be in the future", "value_error"))
        if problems:
            raise RequestInvalid(problems)
        timing = Timing(
            request.schedule_type, request.interval_minutes, request.cron_expression, start, end
        )
        if timing.next_run(now) is None:
            raise RequestInvalid(
                [(["body", "end_at"], "The schedule would never run before end_at", "value_error")]
            )
        return timing

    def _merged(
        self, current: ScheduledTaskRecord, update: ScheduledTaskUpdate
    ) -> ScheduledTaskRequest:
        """The stored request (but its secrets) with the update's fields laid over it."""
        fields: dict[str, Any] = {
            **_sent_settings(current),
            "task": current.task,
            "metadata": current.metadata or None,
            "schedule_type": current.schedule_type,
            "interval_minutes": current.interval_minutes,
            "cron_expression": current.cron_expression,
            "start_at": current.start_at,
            "end_at": current.end_at,
        }
        sent = update.model_dump(include=update.model_fields_set - {"is_active", "secrets"})
        if sent.get("schedule_type", current.schedule_type) != current.schedule_type:
            for field in ("interval_minutes", "cron_expression"):
                fields[field] = sent.get(field)
        try:
            return ScheduledTaskRequest.model_validate({**fields, **sent})
        except ValidationError as invalid:
            raise RequestInvalid(
                [(["body", *e["loc"]], e["msg"], e["type"]) for e in invalid.errors()]
            ) from None

    def _definition(self, request: ScheduledTaskRequest, timing: Timing) -> dict[str, Any]:
        """The record's fields that say what to run and when (not who, nor the secrets)."""
        run_task = request.run_task_request()
        return {
            "task": run_task.task,
            "settings": run_task.settings_without_secrets(),
            "sent_fields": sorted(run_task.model_fields_set - {"task", "secrets", "metadata"}),
            "metadata": run_task.metadata or {},
            "schedule_type": timing.schedule_type,
            "interval_minutes": timing.interval_minutes,
            "cron_expression": timing.cron_expression,
            "start_at": utc_timestamp(timing.start),
            "end_at": utc_timestamp(timing.end),
        }

    def _sealed(
        self, owner: str, scheduled_task_id: str, request: ScheduledTaskRequest
    ) -> str | None:
        if not request.secrets:
            return None
        return self.cipher.encrypt(
            json.dumps(request.secrets), schedule_secrets_context(owner, scheduled_task_id)
        )

    def _plan(self, record: ScheduledTaskRecord, now: datetime) -> SchedulePlan:
        timing = Timing.of(record)
        start = timing.start
        if start < now - START_DATE_TOLERANCE:
            start = timing.next_run(now) or timing.end
        return SchedulePlan(
            name=record.scheduled_task_id,
            expression=timing.expression(),
            start_date=start,
            end_date=timing.end,
            enabled=record.is_active,
            input=firing_input(record.owner, record.scheduled_task_id),
        )


def _sent_settings(record: ScheduledTaskRecord) -> dict[str, Any]:
    """The stored run-task settings the caller set, without the defaults filled in."""
    return {name: value for name, value in record.settings.items() if name in record.sent_fields}
