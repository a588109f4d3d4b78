"""What arrives on the TriggerQueue, and the RunTaskRejected event the trigger answers with.

Four kinds of message share the queue, told apart by their envelope:
- S3's ``Object Created`` for a task spec under ``incoming/`` (TaskSpecCreatedRule, default bus);
- a ``RunTask`` event put on the stack's bus by the caller's own systems (RunTaskEventRule);
- ``TaskStatusChanged`` for an ended task (TaskEndedRule): an S3-started task's result is due;
- a schedule's firing, ``{"kind": "schedule", ...}`` (EventBridge Scheduler or the local one).
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from browser_tasks.models.scheduled_task import ScheduleFiring
from browser_tasks.models.status_events import EVENT_SOURCE, TaskStatusChangedEvent

RUN_TASK = "RunTask"
RUN_TASK_REJECTED = "RunTaskRejected"


class _Envelope(BaseModel):
    """The EventBridge fields the trigger reads (moto's copy lacks some others)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str = Field(min_length=1, max_length=256)  # EventBridge's event id
    source: str


class SpecBucket(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str


class SpecObject(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    key: str = Field(min_length=1)
    size: int | None = None
    # "null" for an object of an unversioned bucket; then the sequencer tells versions apart.
    version_id: str | None = Field(default=None, alias="version-id")
    sequencer: str | None = None


class ObjectCreatedDetail(BaseModel):
    model_config = ConfigDict(frozen=True)

    bucket: SpecBucket
    object: SpecObject


class ObjectCreatedEvent(_Envelope):
    """S3 → EventBridge: an object was written to the task specs bucket."""

    source: Literal["aws.s3"]
    detail_type: Literal["Object Created"] = Field(alias="detail-type")
    detail: ObjectCreatedDetail

    @property
    def version_id(self) -> str | None:
        """The object's version, or None in an unversioned bucket."""
        version = self.detail.object.version_id
        return None if version in (None, "null") else version

    @property
    def version_marker(self) -> str:
        """What tells this write of the key from any other: its version id, else S3's
        sequencer (which grows with each write of a key), else the event's own id (the same
        in every redelivery of this notification)."""
        return self.version_id or self.detail.object.sequencer or self.id


class RunTaskEvent(_Envelope):
    """A caller's ``RunTask`` event: ``detail`` is the run-task body plus ``owner``. Kept as
    raw JSON here: a detail that does not validate is answered with RunTaskRejected, never
    dropped like a message of no known shape."""

    detail_type: Literal["RunTask"] = Field(alias="detail-type")
    detail: Any = None


def message_kind(message: Any) -> str | None:
    """Which of the four a queued message is, by its envelope alone; None: none of them."""
    if not isinstance(message, dict):
        return None
    if message.get("kind") == "schedule":
        return "schedule"
    source, detail_type = message.get("source"), message.get("detail-type")
    if source == "aws.s3" and detail_type == "Object Created":
        return "spec_created"
    if detail_type == RUN_TASK:
        return "run_task"
    if source == EVENT_SOURCE and detail_type == "TaskStatusChanged":
        return "task_ended"
    return None


TriggerMessage = Annotated[
    Annotated[ObjectCreatedEvent, Tag("spec_created")]
    | Annotated[RunTaskEvent, Tag("run_task")]
    | Annotated[TaskStatusChangedEvent, Tag("task_ended")]
    | Annotated[ScheduleFiring, Tag("schedule")],
    Discriminator(message_kind),
]


class RunTaskRejection(BaseModel):
    """The detail of ``RunTaskRejected``: a RunTask event that started nothing, and why (the v1
    ``detail``: a list of ``{loc, msg, type}``, or one message). Never the event's input."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    owner: str | None = None  # when the event named one
    detail: list[dict[str, Any]] | str
