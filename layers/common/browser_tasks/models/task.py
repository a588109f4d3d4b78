"""A task as stored: its lifecycle status and what the caller asked for, secrets sealed."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


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
    # Control: asked by stop-task, read by the worker after every step; the paused
    # execution's token, answered by stop-task / resume-task. Neither is ever returned.
    stop_requested: bool = False
    resume_token: str | None = None


def utc_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with microseconds: sorts as text, which the owner/created_at index needs."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
