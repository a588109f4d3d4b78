"""Reading tasks back: the task with its steps, the owner's task list, and media URLs.

Every read is scoped to the caller: another owner's task is answered like an unknown one.
Media is never proxied through the API: callers get short-lived presigned GET URLs.
"""

import json
import math
from dataclasses import dataclass
from typing import NamedTuple

from browser_tasks.domain.ports import MediaLinks, SavedBrowserData, StepLog, TaskIndex, TaskLookup
from browser_tasks.domain.task_pages import PageKind, page_url
from browser_tasks.domain.tasks import owned_task
from browser_tasks.errors import OutputFileNotFound, RequestInvalid
from browser_tasks.models.file_names import validate_plain_file_name
from browser_tasks.models.task import TaskRecord
from browser_tasks.models.task_view import (
    BrowserData,
    TaskFilter,
    TaskListItem,
    TaskPage,
    TaskStepView,
    TaskView,
)


class TaskUrls(NamedTuple):
    live_url: str | None
    public_share_url: str | None


def task_urls(record: TaskRecord, api_base_url: str) -> TaskUrls:
    """Where a task can be watched live, and its public share page (only if it was created
    with ``enable_public_share``); see ``task_pages``. ``api_base_url`` is the API's own URL,
    as the caller reached it (``https://<host>[/<stage>]/api/v1``)."""
    return TaskUrls(
        live_url=page_url(api_base_url, PageKind.LIVE, record),
        public_share_url=page_url(api_base_url, PageKind.SHARE, record),
    )


def step_id(task_id: str, step: int) -> str:
    """A step's id: stable across a replayed step, which overwrites the same record."""
    return f"{task_id}-{step}"


@dataclass(frozen=True)
class TaskReader:
    tasks: TaskLookup
    index: TaskIndex
    steps: StepLog
    media: MediaLinks
    browser_data: SavedBrowserData
    media_url_seconds: int  # how long a presigned media URL works

    def task(self, owner: str, task_id: str, api_base_url: str) -> TaskView:
        """The owner's task with its steps (oldest first) and, if it was saved, its cookies;
        its links are under ``api_base_url``.

        Raises
        ------
        TaskNotFound
            Unknown id, or another owner's task.
        """
        record = owned_task(self.tasks, owner, task_id)
        urls = task_urls(record, api_base_url)
        return self._view(record, urls, self._browser_data(record))

    def result_view(self, record: TaskRecord) -> TaskView:
        """The task as ``GET /task/{id}`` shows it, for a result kept outside the API (an S3
        spec's result object): without the live and share links (their tokens are
        credentials) and without saved browser data (cookies are credentials too)."""
        return self._view(record, TaskUrls(live_url=None, public_share_url=None), None)

    def _view(
        self, record: TaskRecord, urls: TaskUrls, browser_data: BrowserData | None
    ) -> TaskView:
        task_id = record.task_id
        steps = sorted(self.steps.list(task_id), key=lambda s: s.step)
        return TaskView(
            id=record.task_id,
            task=record.task,
            output=record.output,
            status=record.status,
            created_at=record.created_at,
            finished_at=record.finished_at,
            steps=[
                TaskStepView(
                    id=step_id(task_id, s.step),
                    step=s.step,
                    evaluation_previous_goal=s.evaluation_previous_goal,
                    next_goal=s.next_goal,
                    url=s.url,
                )
                for s in steps
            ],
            live_url=urls.live_url,
            browser_data=browser_data,
            user_uploaded_files=list(record.settings.get("included_file_names") or []),
            output_files=record.output_files,
            public_share_url=urls.public_share_url,
            metadata=record.metadata,
            # The worker stores it only once it has validated it against the caller's schema.
            structured_output=(
                json.loads(record.structured_output) if record.structured_output else None
            ),
            is_success=record.is_success,
            failure_reason=record.failure_reason,
            steps_count=record.steps_count,
            cost_cents=record.cost_cents,
            notes=record.notes,
            started_at=record.started_at,
        )

    def page(
        self, owner: str, where: TaskFilter, page: int, limit: int, api_base_url: str
    ) -> TaskPage:
        """One page of the owner's tasks that match ``where``, newest first; their live
        views' links are under ``api_base_url``.

        Cost: counting reads every one of the owner's index entries (filters only shrink
        the answer), and page N reads past the N-1 pages before it: O(the owner's tasks). A
        cursor (the index's LastEvaluatedKey, handed to the caller) would make pages O(limit).
        """
        total = self.index.count(owner, where)
        skip = (page - 1) * limit
        records = (
            self.index.newest_first(owner, where, skip=skip, take=limit) if skip < total else []
        )
        return TaskPage(
            tasks=[
                TaskListItem(
                    id=r.task_id,
                    task=r.task,
                    output=r.output,
                    status=r.status,
                    created_at=r.created_at,
                    finished_at=r.finished_at,
                    live_url=task_urls(r, api_base_url).live_url,
                )
                for r in records
            ],
            total_pages=math.ceil(total / limit),
            page=page,
            limit=limit,
            total_count=total,
        )

    def screenshots(self, owner: str, task_id: str) -> list[str]:
        """A URL per step that has a screenshot, in step order."""
        owned_task(self.tasks, owner, task_id)
        keys = [
            s.screenshot_key
            for s in sorted(self.steps.list(task_id), key=lambda s: s.step)
            if s.screenshot_key
        ]
        return [self.media.presign_get(key, self.media_url_seconds) for key in keys]

    def gif(self, owner: str, task_id: str) -> str | None:
        """The task's GIF; None until it exists (the worker makes it when a task of at
        least two steps ends)."""
        record = owned_task(self.tasks, owner, task_id)
        if not record.gif_key:
            return None
        return self.media.presign_get(record.gif_key, self.media_url_seconds)

    def recordings(self, owner: str, task_id: str) -> list[str]:
        """Video recordings of the task: none, since tasks are not recorded (v1 answers the
        list for completed tasks; ours is always empty)."""
        owned_task(self.tasks, owner, task_id)
        return []

    def output_file(self, owner: str, task_id: str, file_name: str) -> str:
        """A URL for one of the task's output files (files the agent downloaded).

        Raises
        ------
        RequestInvalid
            ``file_name`` is not a plain file name.
        TaskNotFound
            Unknown id, or another owner's task.
        OutputFileNotFound
            The task has no output file of that name.
        """
        try:
            validate_plain_file_name(file_name)
        except ValueError as invalid:
            raise RequestInvalid([(["path", "file_name"], str(invalid), "value_error")]) from None
        record = owned_task(self.tasks, owner, task_id)
        if file_name not in record.output_files:
            raise OutputFileNotFound()
        key = self.media.output_file_key(owner, task_id, file_name)
        return self.media.presign_get(key, self.media_url_seconds)

    def _browser_data(self, record: TaskRecord) -> BrowserData | None:
        if not (record.settings.get("save_browser_data") and record.browser_data_key):
            return None
        saved = self.browser_data.load(record.owner, record.browser_data_key)
        return BrowserData(cookies=saved.get("cookies", [])) if saved else None
