"""A task's live view (the owner's) and its public share page: HTML, and the JSON it polls.

No API key (``routes.auth`` lets ``/live/…`` and ``/share/…`` through): the token in the path
is the credential. An unknown task, a wrong token and a task that is not shared all answer the
same 404, as any unknown task does.
"""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from api_docs import route_answers
from browser_tasks.domain.task_pages import PageKind
from browser_tasks.models.task_page import LiveView, SharedView
from browser_tasks.services import task_pages
from task_page import HTML_ANSWER, page_response, state_response

router = Router()  # type: ignore[no-untyped-call]  # untyped in Powertools

TaskId = Annotated[str, Path(max_length=64)]
Token = Annotated[str, Path(max_length=64, description="The token in the page's link.")]
After = Annotated[int, Query(ge=0, description="Only the steps numbered above this.")]
# No key, so api_docs does not add the 503 of the keyed routes: said here.
ANSWERS = {
    404: "Task not found: unknown, wrong token, or (share page) not shared",
    503: "An AWS dependency failed; retry",
}


@router.get("/live/<task_id>/<token>", responses={**route_answers(ANSWERS), 200: HTML_ANSWER})
def live_page(task_id: TaskId, token: Token) -> Response[str]:
    """The live view (``live_url``): status and steps with screenshots, updating as it runs."""
    task_pages().open(PageKind.LIVE, task_id, token)
    return page_response(PageKind.LIVE, task_pages().media_origin())


@router.get("/live/<task_id>/<token>/state", responses=route_answers(ANSWERS))
def live_state(task_id: TaskId, token: Token, after: After = 0) -> Response[LiveView]:
    """What the live view polls: the task, its metadata and file names, steps after ``after``."""
    return state_response(task_pages().live(task_id, token, after))


@router.get("/share/<task_id>/<token>", responses={**route_answers(ANSWERS), 200: HTML_ANSWER})
def share_page(task_id: TaskId, token: Token) -> Response[str]:
    """The public share page (``public_share_url``, with ``enable_public_share``): read-only,
    without metadata, files, notes or browser data."""
    task_pages().open(PageKind.SHARE, task_id, token)
    return page_response(PageKind.SHARE, task_pages().media_origin())


@router.get("/share/<task_id>/<token>/state", responses=route_answers(ANSWERS))
def share_state(task_id: TaskId, token: Token, after: After = 0) -> Response[SharedView]:
    """What the share page polls: the task's text, status, steps after ``after``, output."""
    return state_response(task_pages().shared(task_id, token, after))
