"""One agent step as stored (already redacted): what the v1 ``steps`` list is made of."""

from typing import Any

from pydantic import BaseModel, ConfigDict


class StepRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    task_id: str
    step: int
    evaluation_previous_goal: str = ""
    memory: str = ""
    next_goal: str = ""
    actions: list[dict[str, Any]] = []
    errors: list[str] = []
    url: str = ""
    screenshot_key: str | None = None
    duration_ms: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    created_at: str
    metadata: dict[str, str] = {}
