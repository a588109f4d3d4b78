"""``/run-task``, the task reads, and the task controls (stop, pause, resume)."""

import json
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.metrics import MetricUnit

from api_docs import route_answers
from browser_tasks.models.run_task import RunTaskRequest, TaskCreated
from browser_tasks.models.task import TaskStatus
from browser_tasks.services import task_service
from observability import metrics
from routes.auth import current_owner

router = Router()  # type: ignore[no-untyped-call]  # untyped in Powertools


@router.post(
    "/run-task",
    responses=route_answers({402: "Billing is on and the balance does not cover the task"}),
)
def run_task(request: Annotated[RunTaskRequest, Body()]) -> TaskCreated:
    """Create a task and start it; answers at once with its id."""
    record = task_service().create_task(current_owner(router), request)
    metrics.add_metric(name="TasksCreated", unit=MetricUnit.Count, value=1)
    return TaskCreated(id=record.task_id)


@router.get(
    "/task/<task_id>/status",
    responses=route_answers(success_schema={"enum": [status.value for status in TaskStatus]}),
)
def task_status(task_id: Annotated[str, Path(max_length=64)]) -> Response[str]:
    """The status as a bare JSON string, as v1 answers it."""
    status = task_service().get(current_owner(router), task_id).status
    return Response(
        status_code=200, content_type=content_types.APPLICATION_JSON, body=json.dumps(status.value)
    )


@router.put("/stop-task", responses=route_answers({409: "The task has already ended"}))
def stop_task(task_id: Annotated[str, Query(min_length=1, max_length=64)]) -> dict[str, str]:
    """Stop for good: at once if it has not started, after the current step if it runs."""
    task_service().stop(current_owner(router), task_id)
    return {}


@router.put(
    "/pause-task",
    responses=route_answers({409: "The task is already paused, being stopped, or ended"}),
)
def pause_task(task_id: Annotated[str, Query(min_length=1, max_length=64)]) -> dict[str, str]:
    """Pause after the current step; resume-task carries on from there, stop-task ends it."""
    task_service().pause(current_owner(router), task_id)
    return {}


@router.put("/resume-task", responses=route_answers({409: "The task is not paused"}))
def resume_task(task_id: Annotated[str, Query(min_length=1, max_length=64)]) -> dict[str, str]:
    """Carry on a paused task from its checkpoint; only a paused task resumes."""
    task_service().resume(current_owner(router), task_id)
    return {}
