"""Events on the stack's bus: a task's status changed, or an owner asked for a webhook test.

Three producers put ``TaskStatusChanged``: the API (``created``), the state machine's Emit*
states (every later change; functions/workflow/definition.asl.json builds the same detail in
JSONPath) and the execution guard (``failed``). The notifier reads them back from the
WebhookQueue, wrapped in EventBridge's envelope, together with ``WebhookTest``.
"""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from browser_tasks.models.task import TaskStatus

EVENT_SOURCE = "browser-tasks"
TASK_STATUS_CHANGED = "TaskStatusChanged"
WEBHOOK_TEST = "WebhookTest"


class TaskStatusChange(BaseModel):
    """The detail of ``TaskStatusChanged``. Nothing secret: ids, status, the caller's metadata
    (which run-task keeps apart from the secrets and the task text) and, for ``failed``, the
    reason shown on the task."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    owner: str
    status: TaskStatus
    metadata: dict[str, str] = {}
    timestamp: datetime  # when the status changed: receivers order a task's events by it
    failure_reason: str | None = None


class WebhookTestRequest(BaseModel):
    """The detail of ``WebhookTest``: ``POST /webhook/test`` asked for one test delivery."""

    model_config = ConfigDict(frozen=True)

    owner: str
    timestamp: datetime


class _Envelope(BaseModel):
    """The EventBridge event around a detail, as a rule delivers it to SQS (only the fields
    the notifier reads: moto's copy, for one, carries no ``account``)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    source: Literal["browser-tasks"]


class TaskStatusChangedEvent(_Envelope):
    detail_type: Literal["TaskStatusChanged"] = Field(alias="detail-type")
    detail: TaskStatusChange


class WebhookTestEvent(_Envelope):
    detail_type: Literal["WebhookTest"] = Field(alias="detail-type")
    detail: WebhookTestRequest


WebhookQueueEvent = Annotated[
    TaskStatusChangedEvent | WebhookTestEvent, Field(discriminator="detail_type")
]
