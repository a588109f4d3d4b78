"""What the live view and the public share page poll: a task's progress as a browser shows it.

Built field by field from the stored task, like the task reads: a field not named here cannot
reach a page. The share page's model is the smaller one, for anyone the owner gave its link:
no metadata, files, notes, failure reason or browser data (any of them may hold the owner's
or the operator's details).
"""

from pydantic import BaseModel, ConfigDict, Field

from browser_tasks.models.task import TaskStatus


class PageStep(BaseModel):
    model_config = ConfigDict(frozen=True)

    step: int
    next_goal: str
    evaluation_previous_goal: str
    url: str
    screenshot_url: str | None = Field(
        description="Presigned GET URL of the page as the step saw it (short-lived)."
    )


class SharedView(BaseModel):
    """The public share page's data: ``GET /share/{task_id}/{token}/state``."""

    model_config = ConfigDict(frozen=True)

    task: str
    status: TaskStatus
    ended: bool = Field(description="The status is final: the page stops polling.")
    steps: list[PageStep] = Field(description="Oldest first; only those after ``after``.")
    output: str | None


class LiveView(SharedView):
    """The live view's data (``GET /live/{task_id}/{token}/state``): the owner's, so also
    the task's metadata, its output files' names and what the run noted. Never its secrets
    or saved browser data."""

    id: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    steps_count: int
    is_success: bool | None
    failure_reason: str | None
    output_files: list[str]
    metadata: dict[str, str]
    notes: list[str]
