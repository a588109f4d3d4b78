"""The task reads: ``/task/{id}``, ``/tasks``, and the task's media as presigned URLs."""

from typing import Annotated
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from api_docs import route_answers
from api_urls import api_base_url
from browser_tasks.models.task import TaskStatus
from browser_tasks.models.task_view import (
    GifUrl,
    OutputFileUrl,
    RecordingUrls,
    ScreenshotUrls,
    TaskFilter,
    TaskPage,
    TaskView,
    metadata_filters,
)
from browser_tasks.services import task_reader
from routes.auth import current_owner
from routes.paging import PageNumber, PageSize

router = Router()  # type: ignore[no-untyped-call]  # untyped in Powertools

TaskId = Annotated[str, Path(max_length=64)]


@router.get("/task/<task_id>")
def get_task(task_id: TaskId) -> TaskView:
    """The task, its steps, outcome and files (v1 fields, then ours)."""
    return task_reader().task(current_owner(router), task_id, api_base_url(router.current_event))


@router.get("/tasks")
def list_tasks(
    page: PageNumber = 1,
    limit: PageSize = 10,
    status: Annotated[TaskStatus | None, Query()] = None,
) -> TaskPage:
    """The caller's tasks, newest first. Our extensions: ``status=`` and any number of
    ``metadata[key]=value`` filters, all of which must match."""
    query = router.current_event.multi_value_query_string_parameters or {}
    where = TaskFilter(status=status, metadata=metadata_filters(query))
    return task_reader().page(
        current_owner(router), where, page, limit, api_base_url(router.current_event)
    )


@router.get("/task/<task_id>/screenshots")
def task_screenshots(task_id: TaskId) -> ScreenshotUrls:
    """A presigned URL per step screenshot, in step order."""
    return ScreenshotUrls(screenshots=task_reader().screenshots(current_owner(router), task_id))


@router.get("/task/<task_id>/gif")
def task_gif(task_id: TaskId) -> GifUrl:
    """The task's GIF (made when a task of two or more steps ends), else null."""
    return GifUrl(gif=task_reader().gif(current_owner(router), task_id))


@router.get("/task/<task_id>/media")
def task_media(task_id: TaskId) -> RecordingUrls:
    """Video recordings: always an empty list, tasks are not recorded."""
    return RecordingUrls(recordings=task_reader().recordings(current_owner(router), task_id))


@router.get(
    "/task/<task_id>/output-file/<file_name>",
    responses=route_answers({404: "Task not found, or it has no output file of that name"}),
)
def task_output_file(task_id: TaskId, file_name: Annotated[str, Path()]) -> OutputFileUrl:
    """A presigned URL for one of the task's output files."""
    # API Gateway's REST proxy passes the path as the client encoded it ("my%20file.csv").
    url = task_reader().output_file(current_owner(router), task_id, unquote(file_name))
    return OutputFileUrl(download_url=url)
