"""TaskStatusChanged events on the stack's bus, in the shape the state machine emits them."""

import json

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.errors import aws_call
from browser_tasks.errors import ServiceUnavailable
from browser_tasks.models.task import TaskStatus

SOURCE = "browser-tasks"
DETAIL_TYPE = "TaskStatusChanged"


class EventBridgeStatusEvents:
    def __init__(self, event_bus_name: str) -> None:
        self._bus = event_bus_name

    def task_status_changed(
        self, task_id: str, owner: str, status: TaskStatus, failure_reason: str | None = None
    ) -> None:
        detail: dict[str, str] = {"task_id": task_id, "owner": owner, "status": status.value}
        if failure_reason is not None:
            detail["failure_reason"] = failure_reason
        with aws_call("Announcing the status change"):
            response = aws_clients.events().put_events(
                Entries=[
                    {
                        "EventBusName": self._bus,
                        "Source": SOURCE,
                        "DetailType": DETAIL_TYPE,
                        "Detail": json.dumps(detail),
                    }
                ]
            )
        # PutEvents answers 200 even when an entry was refused; the count says so.
        if response.get("FailedEntryCount", 0):
            code = response["Entries"][0].get("ErrorCode", "Unknown")
            raise ServiceUnavailable(f"Announcing the status change failed ({code})")
