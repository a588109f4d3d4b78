"""What the task reads answer: ``GET /task/{id}``, ``GET /tasks`` and the media URLs.

The v1 fields first, then our extensions. Built from the stored task, never dumped from it: a
field that is not named here (secrets ciphertext, resume token, control flags) cannot leak.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from browser_tasks.errors import RequestInvalid
from browser_tasks.models.run_task import MAX_METADATA_PAIRS, MetadataKey, MetadataValue
from browser_tasks.models.task import TaskStatus

MAX_PAGE_SIZE = 100
LIVE_URL = "A page following the task as it runs; opens without a key (the link is the key)."


class TaskStepView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable for the step: the task id and the step number.")
    step: int
    evaluation_previous_goal: str
    next_goal: str
    url: str


class BrowserData(BaseModel):
    model_config = ConfigDict(frozen=True)

    cookies: list[dict[str, Any]]


class TaskView(BaseModel):
    """``GET /task/{task_id}``."""

    model_config = ConfigDict(frozen=True)

    id: str
    task: str
    output: str | None
    status: TaskStatus
    created_at: str
    finished_at: str | None
    steps: list[TaskStepView]
    live_url: str | None = Field(description=LIVE_URL)
    browser_data: BrowserData | None = Field(
        description="Only with save_browser_data, once the task has saved it."
    )
    user_uploaded_files: list[str]
    output_files: list[str]
    public_share_url: str | None = Field(
        description="Only with enable_public_share: a read-only page of the task's text, "
        "status, steps and output, for anyone with the link."
    )
    metadata: dict[str, str]
    # Our extensions: what a caller needs to act on the result; none of it secret.
    structured_output: Any = Field(
        description="The output parsed as JSON, when structured_output_json was given and met."
    )
    is_success: bool | None = Field(description="The agent's own verdict on its task.")
    failure_reason: str | None
    steps_count: int
    cost_cents: int = Field(description="What the task has cost so far, in US cents.")
    notes: list[str] = Field(description="What the caller should know about the run.")
    started_at: str | None


class TaskListItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    task: str
    output: str | None
    status: TaskStatus
    created_at: str
    finished_at: str | None
    live_url: str | None = Field(description=LIVE_URL)


class TaskPage(BaseModel):
    """``GET /tasks``: one page of the owner's tasks, newest first."""

    model_config = ConfigDict(frozen=True)

    tasks: list[TaskListItem]
    total_pages: int
    page: int
    limit: int
    total_count: int


class ScreenshotUrls(BaseModel):
    screenshots: list[str] = Field(description="Presigned GET URLs, one per step, in order.")


class GifUrl(BaseModel):
    gif: str | None = Field(
        description="Presigned GET URL; null until the task ends with 2+ steps."
    )


class RecordingUrls(BaseModel):
    recordings: list[str] = Field(description="Always empty: tasks are not recorded as video.")


class OutputFileUrl(BaseModel):
    download_url: str = Field(description="Presigned GET URL of the output file.")


@dataclass(frozen=True)
class TaskFilter:
    """Which of an owner's tasks ``GET /tasks`` lists: all given conditions must hold."""

    status: TaskStatus | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


_METADATA_PARAMETER = re.compile(r"^metadata\[(.*)\]$", re.DOTALL)
_metadata_filters = TypeAdapter(dict[MetadataKey, MetadataValue])


def metadata_filters(query: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The ``metadata[key]=value`` filters of a query string (any other parameter is left to
    the route), each key at most once, keys and values within run-task's metadata limits.

    Raises
    ------
    RequestInvalid
        A malformed ``metadata…`` parameter, a key given twice, or too many filters.
    """
    problems: list[tuple[list[str | int], str, str]] = []
    filters: dict[str, str] = {}
    for name, values in query.items():
        if not name.startswith("metadata"):
            continue
        loc: list[str | int] = ["query", name]
        match = _METADATA_PARAMETER.match(name)
        if match is None:
            problems.append((loc, "filter by metadata as metadata[key]=value", "value_error"))
        elif len(values) != 1:
            problems.append((loc, "give each metadata key once", "value_error"))
        else:
            filters[match.group(1)] = values[0]
    if len(filters) > MAX_METADATA_PAIRS:
        problems.append(
            (
                ["query", "metadata"],
                f"at most {MAX_METADATA_PAIRS} metadata filters (a task has at most that many)",
                "too_long",
            )
        )
    try:
        _metadata_filters.validate_python(filters)
    except ValidationError as invalid:
        for error in invalid.errors():
            key = str(error["loc"][0]) if error["loc"] else ""
            problems.append((["query", f"metadata[{key}]"], error["msg"], error["type"]))
    if problems:
        raise RequestInvalid(problems)
    return filters
