"""Scheduled tasks (v1 ``/scheduled-task``): a run-task request plus when to run it, as asked,
as stored, as answered, and the message a schedule's firing carries.

The rules that need more than one field (which of ``interval_minutes`` / ``cron_expression``
goes with ``schedule_type``, ``end_at`` after ``start_at``) are checked on the merged result
by ``domain/schedules.py``, so a partial ``PUT`` obeys them exactly as a ``POST`` does.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from browser_tasks.models.cron import to_aws_cron
from browser_tasks.models.run_task import RunTaskRequest, TaskText

ScheduleType = Literal["interval", "cron"]
MAX_INTERVAL_MINUTES = 525_600  # a year
# The request fields that say when, as opposed to what (RunTaskRequest's fields).
SCHEDULE_FIELDS = ("schedule_type", "interval_minutes", "cron_expression", "start_at", "end_at")


def _cron_expression(value: str) -> str:
    try:
        to_aws_cron(value)
    except ValueError as error:  # what is wrong with it, or what AWS cannot express
        raise ValueError(f"{value!r} {error}") from None
    return " ".join(value.split())


def _as_utc(value: datetime) -> datetime:
    """Naive means UTC; aware times are kept as the instant they name, in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


CronExpression = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_cron_expression)
]
UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]
IntervalMinutes = Annotated[int, Field(ge=1, le=MAX_INTERVAL_MINUTES)]


class ScheduledTaskRequest(RunTaskRequest):
    """Body of ``POST /api/v1/scheduled-task``: every run-task field, and when to run it."""

    schedule_type: ScheduleType = Field(
        description="interval: every interval_minutes from start_at; cron: cron_expression."
    )
    interval_minutes: IntervalMinutes | None = Field(
        default=None, description="Required for interval schedules, not allowed for cron."
    )
    cron_expression: CronExpression | None = Field(
        default=None,
        description=(
            'Standard 5-field cron in UTC ("0 9 * * 1-5"); required for cron schedules. It '
            "may restrict day-of-month or day-of-week, not both (EventBridge Scheduler cannot)."
        ),
    )
    start_at: UtcDateTime | None = Field(
        default=None, description="ISO 8601 (naive = UTC); default now."
    )
    end_at: UtcDateTime | None = Field(
        default=None, description="ISO 8601 (naive = UTC); default start_at + 365 days."
    )

    def run_task_request(self) -> RunTaskRequest:
        """The run-task part: what each firing asks ``create_task`` for."""
        return RunTaskRequest.model_validate(
            self.model_dump(include=set(RunTaskRequest.model_fields), exclude_unset=True)
        )


class ScheduledTaskUpdate(ScheduledTaskRequest):
    """Body of ``PUT /api/v1/scheduled-task/{id}``: only the fields sent change (send
    ``secrets`` to replace them all; they are never shown)."""

    # Required when creating, optional here: the two fields without a default above.
    task: TaskText | None = None  # type: ignore[assignment]
    schedule_type: ScheduleType | None = None  # type: ignore[assignment]
    is_active: bool | None = Field(
        default=None, description="false: the schedule stops firing (it is kept, not deleted)."
    )


class FiringState(BaseModel):
    """What the firings of a scheduled task have done, written by ``ScheduleService.fire``
    only, each write conditional on ``version`` (so concurrent deliveries cannot both act)."""

    model_config = ConfigDict(frozen=True)

    version: int = 0
    # The latest scheduled time a firing claimed: a delivery at or before it is a duplicate.
    claimed_time: str | None = None
    # A run claimed whose task is being created (or whose creator died: see the domain).
    pending_task_id: str | None = None
    pending_since: str | None = None
    runs_count: int = 0
    last_run_at: str | None = None
    last_task_id: str | None = None
    skipped_runs_count: int = 0
    last_skipped_at: str | None = None
    last_error: str | None = None


class ScheduledTaskRecord(BaseModel):
    """One item of the schedules table, keyed by ``owner`` and ``scheduled_task_id``.

    ``settings`` holds every run-task field but the task text, secrets and metadata;
    ``secrets_ciphertext`` is the KMS envelope of the secrets, bound to
    ``{owner, scheduled_task_id, purpose: schedule}``. Times are ``utc_timestamp`` text.
    """

    model_config = ConfigDict(frozen=True)

    owner: str
    scheduled_task_id: str
    task: str
    settings: dict[str, Any]
    # The run-task fields of settings the caller set (the rest are defaults): each run asks
    # for only these, so a browser profile fills in the others as it does for run-task.
    sent_fields: list[str] = []
    metadata: dict[str, str] = {}
    secrets_ciphertext: str | None = None
    schedule_type: ScheduleType
    interval_minutes: int | None = None
    cron_expression: str | None = None
    start_at: str
    end_at: str
    is_active: bool = True
    created_at: str
    updated_at: str
    firing: FiringState = FiringState()


class ScheduledTaskView(BaseModel):
    """``GET /scheduled-task/{id}``: the schedule, what it has done, and the run-task settings
    it runs with (every field but ``secrets``, which are never shown), flat as v1 sends them."""

    model_config = ConfigDict(frozen=True, extra="allow")  # the settings ride as extras

    id: str
    task: str
    schedule_type: ScheduleType
    interval_minutes: int | None
    cron_expression: str | None
    start_at: str
    end_at: str
    is_active: bool
    next_run_at: str | None = Field(description="When it fires next; null if it never will.")
    created_at: str
    updated_at: str
    runs_count: int = Field(description="Tasks its firings have created.")
    last_run_at: str | None
    last_task_id: str | None
    skipped_runs_count: int = Field(
        description="Firings skipped because the previous run had not ended."
    )
    last_skipped_at: str | None
    last_error: str | None = Field(
        description="Why the latest firing created no task (e.g. the balance), else null."
    )
    metadata: dict[str, str]


class ScheduledTaskPage(BaseModel):
    """``GET /scheduled-tasks``: one page of the owner's scheduled tasks, newest first."""

    model_config = ConfigDict(frozen=True)

    scheduled_tasks: list[ScheduledTaskView]
    total_pages: int
    page: int
    limit: int
    total_count: int


class ScheduledTaskCreated(BaseModel):
    id: str


class ScheduleFiring(BaseModel):
    """The message a schedule sends to the trigger queue (its target's Input, with
    ``<aws.scheduler.scheduled-time>`` filled in by EventBridge Scheduler, or by the local
    scheduler)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["schedule"]
    owner: str = Field(min_length=1)
    scheduled_task_id: str = Field(min_length=1)
    scheduled_time: UtcDateTime


class FiringOutcome(StrEnum):
    STARTED = "started"  # a task was created
    SKIPPED = "skipped"  # the previous run has not ended: counted, no task
    DROPPED = "dropped"  # no such scheduled task, inactive, or outside start_at..end_at
    DUPLICATE = "duplicate"  # this scheduled time was already handled
    REFUSED = "refused"  # create_task refused (balance, a deleted upload...): last_error


class FiringResult(BaseModel):
    """What a firing did; the trigger function logs it."""

    model_config = ConfigDict(frozen=True)

    outcome: FiringOutcome
    scheduled_task_id: str
    scheduled_time: str
    task_id: str | None = None
    reason: str | None = None


class SchedulePlan(BaseModel):
    """One EventBridge Scheduler schedule, as the domain wants it: the adapter adds the group,
    target queue, role and dead-letter queue."""

    model_config = ConfigDict(frozen=True)

    name: str
    expression: str  # rate(N minutes) or cron(...)
    start_date: datetime
    end_date: datetime
    enabled: bool
    input: str  # the target's Input: a ScheduleFiring with the time placeholder
