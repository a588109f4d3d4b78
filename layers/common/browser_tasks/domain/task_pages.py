"""The live view and the public share page: what a browser holding a task's link may see.

A browser opening a link cannot send the owner's API key, so each page's URL carries a token
of its own (256 random bits), made when the task is created: the live view's always, the share
page's only with ``enable_public_share``. The two are different, so a shared link never opens
the owner's fuller live view.

The tokens are stored as they are, not hashed like API keys: every ``GET /task`` and
``GET /tasks`` answers the links again (v1's ``live_url`` and ``public_share_url``), so they
must be readable at read time, and a hash cannot give them back (sealing each with KMS would
cost a decrypt per task listed). They open only what the owner's key already reads, read-only,
and the task item holding them is readable by the API's and the worker's roles alone.

A wrong token, an unknown task and a task that is not shared all answer ``TaskNotFound``: a
guess learns nothing. Tokens are compared in constant time.
"""

import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from browser_tasks.domain.ports import MediaLinks, StepLog, TaskLookup
from browser_tasks.errors import TaskNotFound
from browser_tasks.models.step import StepRecord
from browser_tasks.models.task import TaskRecord
from browser_tasks.models.task_page import LiveView, PageStep, SharedView

TOKEN_BYTES = 32


class PageKind(StrEnum):
    """The two pages; the value is the first segment of the page's path under ``/api/v1``."""

    LIVE = "live"
    SHARE = "share"


def new_page_token() -> str:
    """A page's token: 256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def page_url(api_base_url: str, page: PageKind, record: TaskRecord) -> str | None:
    """The page's link (``<api>/live/<task_id>/<token>``), or None if the task has no token
    for it (not shared, or created before the pages existed)."""
    token = _token(record, page)
    return f"{api_base_url}/{page.value}/{record.task_id}/{token}" if token else None


def _token(record: TaskRecord, page: PageKind) -> str | None:
    return record.live_token if page is PageKind.LIVE else record.share_token


@dataclass(frozen=True)
class TaskPages:
    tasks: TaskLookup
    steps: StepLog
    media: MediaLinks
    media_url_seconds: int  # how long a screenshot's presigned URL works

    def open(self, page: PageKind, task_id: str, token: str) -> TaskRecord:
        """The task whose ``page`` this token opens.

        Raises
        ------
        TaskNotFound
            Unknown task, wrong token, or (share page) a task that is not shared.
        """
        record = self.tasks.get(task_id)
        expected = _token(record, page) if record else None
        # As bytes: compare_digest refuses a non-ASCII str, and a URL may carry anything.
        matches = expected is not None and hmac.compare_digest(expected.encode(), token.encode())
        if record is None or not matches:
            raise TaskNotFound()
        return record

    def live(self, task_id: str, token: str, after: int = 0) -> LiveView:
        """The live view's data: the task as its owner sees it, and its steps after ``after``."""
        record = self.open(PageKind.LIVE, task_id, token)
        return LiveView(
            **self._shared(record, after).model_dump(),
            id=record.task_id,
            created_at=record.created_at,
            started_at=record.started_at,
            finished_at=record.finished_at,
            steps_count=record.steps_count,
            is_success=record.is_success,
            failure_reason=record.failure_reason,
            output_files=record.output_files,
            metadata=record.metadata,
            notes=record.notes,
        )

    def shared(self, task_id: str, token: str, after: int = 0) -> SharedView:
        """The share page's data: the task's text, status, steps after ``after``, output."""
        return self._shared(self.open(PageKind.SHARE, task_id, token), after)

    def media_origin(self) -> str:
        """Where the screenshots' URLs point (a page's Content-Security-Policy allows only
        images from there)."""
        return self.media.origin()

    def _shared(self, record: TaskRecord, after: int) -> SharedView:
        # Read after the task: a status read as final then comes with every step (the worker
        # stores a step before the task can end), so a page that stops polling misses none.
        steps = sorted(self.steps.list(record.task_id, after), key=lambda s: s.step)
        return SharedView(
            task=record.task,
            status=record.status,
            ended=record.status.is_terminal,
            steps=[self._page_step(s) for s in steps],
            output=record.output,
        )

    def _page_step(self, step: StepRecord) -> PageStep:
        return PageStep(
            step=step.step,
            next_goal=step.next_goal,
            evaluation_previous_goal=step.evaluation_previous_goal,
            url=step.url,
            screenshot_url=(
                self.media.presign_get(step.screenshot_key, self.media_url_seconds)
                if step.screenshot_key
                else None
            ),
        )
