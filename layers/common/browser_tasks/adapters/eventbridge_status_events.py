"""TaskStatusChanged and WebhookTest events on the stack's bus (TaskStatusChangedRule sends
both to the WebhookQueue), in the shape the state machine emits status changes; and
RunTaskRejected, the trigger's answer to a RunTask event that started nothing."""

from pydantic import BaseModel

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.errors import aws_call
from browser_tasks.errors import ServiceUnavailable
from browser_tasks.models.status_events import (
    EVENT_SOURCE,
    TASK_STATUS_CHANGED,
    WEBHOOK_TEST,
    TaskStatusChange,
    WebhookTestRequest,
)
from browser_tasks.models.triggers import RUN_TASK_REJECTED, RunTaskRejection


class EventBridgeStatusEvents:
    def __init__(self, event_bus_name: str) -> None:
        self._bus = event_bus_name

    def task_status_changed(self, change: TaskStatusChange) -> None:
        self._put(TASK_STATUS_CHANGED, change, "Announcing the status change")

    def webhook_test_requested(self, request: WebhookTestRequest) -> None:
        self._put(WEBHOOK_TEST, request, "Asking for a webhook test")

    def run_task_rejected(self, rejection: RunTaskRejection) -> None:
        self._put(RUN_TASK_REJECTED, rejection, "Announcing the RunTask rejection")

    def _put(self, detail_type: str, detail: BaseModel, what: str) -> None:
        with aws_call(what):
            response = aws_clients.events().put_events(
                Entries=[
                    {
                        "EventBusName": self._bus,
                        "Source": EVENT_SOURCE,
                        "DetailType": detail_type,
                        "Detail": detail.model_dump_json(exclude_none=True),
                    }
                ]
            )
        # PutEvents answers 200 even when an entry was refused; the count says so.
        if response.get("FailedEntryCount", 0):
            code = response["Entries"][0].get("ErrorCode", "Unknown")
            raise ServiceUnavailable(f"{what} failed ({code})")
