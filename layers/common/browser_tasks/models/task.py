"""A task as stored: its lifecycle status and what the caller asked for, secrets sealed."""

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from browser_tasks.models.work import StepStarted


class TaskStatus(StrEnum):
    """The v1 status values."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (TaskStatus.FINISHED, TaskStatus.STOPPED, TaskStatus.FAILED)


class TaskOrigin(BaseModel):
    """Which entry point created a task, and what of it: a spec object (``s3``: "bucket/key"),
    an event (``event``: its EventBridge id), a schedule (``schedule``: the scheduled task's
    id). Every entry point goes through ``TaskService.create_task``; API tasks carry none."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["s3", "event", "schedule"]
    ref: str


class TaskOutcome(BaseModel):
    """What the worker records when the agent ends (every text already redacted)."""

    output: str | None = None
    structured_output: str | None = None
    is_success: bool | None = None
    errors: list[str] = []
    output_files: list[str] = []
    gif_key: str | None = None
    browser_data_key: str | None = None


class TaskRecord(TaskOutcome):
    """One item of the tasks table: the request, the lifecycle, and the outcome it inherits.

    ``settings`` holds every run-task field but the task text, secrets and metadata;
    ``secrets_ciphertext`` is the KMS envelope of the secrets, bound to ``{task_id, owner}``.
    The item also holds the worker's ``chunk_lease`` (domain/chunk_leases.py) while a chunk
    runs; it is no field here (pydantic ignores it), so nothing read through this model can
    carry it to a caller.
    """

    model_config = ConfigDict(frozen=True)

    task_id: str
    owner: str
    task: str
    status: TaskStatus
    created_at: str
    settings: dict[str, Any]
    metadata: dict[str, str] = {}
    secrets_ciphertext: str | None = None
    started_at: str | None = None
    updated_at: str | None = None
    finished_at: str | None = None
    failure_reason: str | None = None
    steps_count: int = 0
    cost_cents: int = 0
    notes: list[str] = []
    # Control: asked by stop-task / pause-task, read by the worker after every step;
    # resume_requested is asked by resume-task, read by the worker when it stores the paused
    # execution's token (resume_token), which stop-task / resume-task answer. The state machine
    # clears them on resume. None is ever returned to callers.
    stop_requested: bool = False
    pause_requested: bool = False
    resume_requested: bool = False
    resume_token: str | None = None
    # The step the worker was in when it last recorded one starting; see StepStarted.
    step_started: StepStarted | None = None
    # The tokens in the live view's and the share page's links (domain/task_pages.py);
    # share_token only with enable_public_share. Returned only inside those links.
    live_token: str | None = None
    share_token: str | None = None
    origin: TaskOrigin | None = None


@dataclass(frozen=True)
class TaskControl:
    """What callers have asked of a task (stop-task, pause-task, resume-task), as flags.

    The worker reads ``stop`` and ``pause`` after every step, and ``stop`` and ``resume``
    when it stores a paused execution's token.
    """

    stop: bool
    pause: bool
    resume: bool = False


def utc_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with microseconds: sorts as text, which the owner/created_at index needs."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
