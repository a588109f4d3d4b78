"""``/scheduled-task(s)``: run-task requests that an EventBridge Scheduler schedule starts
again and again (every N minutes, or on a cron expression)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from api_docs import route_answers
from browser_tasks.models.scheduled_task import (
    ScheduledTaskCreated,
    ScheduledTaskPage,
    ScheduledTaskRequest,
    ScheduledTaskUpdate,
    ScheduledTaskView,
)
from browser_tasks.services import schedule_service
from routes.auth import current_owner
from routes.paging import PageNumber, PageSize

router = Router()  # type: ignore[no-untyped-call]  # untyped in Powertools

ScheduledTaskId = Annotated[str, Path(max_length=64)]
NOT_FOUND = route_answers({404: "Scheduled task not found: unknown, or another owner's"})


@router.post("/scheduled-task")
def create_scheduled_task(
    request: Annotated[ScheduledTaskRequest, Body()],
) -> ScheduledTaskCreated:
    """Store a task to run on a schedule and create its schedule; answers its id."""
    record = schedule_service().create(current_owner(router), request)
    return ScheduledTaskCreated(id=record.scheduled_task_id)


@router.get("/scheduled-tasks")
def list_scheduled_tasks(page: PageNumber = 1, limit: PageSize = 10) -> ScheduledTaskPage:
    """The caller's scheduled tasks, newest first."""
    return schedule_service().page(current_owner(router), page, limit)


@router.get("/scheduled-task/<scheduled_task_id>", responses=NOT_FOUND)
def get_scheduled_task(scheduled_task_id: ScheduledTaskId) -> ScheduledTaskView:
    """One scheduled task: its schedule, its next run, and what its runs did."""
    service = schedule_service()
    return service.view(service.get(current_owner(router), scheduled_task_id))


@router.put("/scheduled-task/<scheduled_task_id>", responses=NOT_FOUND)
def update_scheduled_task(
    scheduled_task_id: ScheduledTaskId, update: Annotated[ScheduledTaskUpdate, Body()]
) -> ScheduledTaskView:
    """Change the fields sent (``is_active: false`` pauses the schedule); answers the result."""
    service = schedule_service()
    return service.view(service.update(current_owner(router), scheduled_task_id, update))


@router.delete("/scheduled-task/<scheduled_task_id>", responses=NOT_FOUND)
def delete_scheduled_task(scheduled_task_id: ScheduledTaskId) -> dict[str, str]:
    """Delete the schedule and the scheduled task; the tasks it started are kept."""
    schedule_service().delete(current_owner(router), scheduled_task_id)
    return {}
