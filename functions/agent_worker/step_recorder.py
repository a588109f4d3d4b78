"""Turning each finished agent step into a stored, redacted StepRecord and its screenshot."""

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from browser_tasks.adapters.dynamodb_steps import DynamoStepRepository
from browser_tasks.adapters.dynamodb_tasks import DynamoTaskRepository
from browser_tasks.adapters.s3_media import S3MediaStore
from browser_tasks.domain.metering import Metering
from browser_tasks.domain.redaction import Redactor
from browser_tasks.models.step import StepRecord
from browser_tasks.models.task import TaskRecord, utc_timestamp
from browser_tasks.services import utc_now


@dataclass
class StepRecorder:
    """Called from the agent's ``on_step_end`` hook, while the browser is still alive."""

    task: TaskRecord
    steps_before: int
    redactor: Redactor
    steps: DynamoStepRepository
    tasks: DynamoTaskRepository
    media: S3MediaStore
    metering: Metering
    recorded: list[StepRecord] = field(default_factory=list)
    _usage_seen: int = 0

    async def on_step_end(self, agent: Any) -> None:
        item = agent.history.history[-1]
        record = self._record(item, self._new_usage(agent))
        # boto3 is blocking; keep the agent's event loop (CDP, the LLM client) responsive.
        stored = await asyncio.to_thread(self._store, record, item.state.screenshot_path)
        self.recorded.append(stored)

    @property
    def count(self) -> int:
        return len(self.recorded)

    def _new_usage(self, agent: Any) -> tuple[int, int]:
        entries = agent.token_cost_service.usage_history[self._usage_seen :]
        self._usage_seen += len(entries)
        return (
            sum(e.usage.prompt_tokens for e in entries),
            sum(e.usage.completion_tokens for e in entries),
        )

    def _record(self, item: Any, usage: tuple[int, int]) -> StepRecord:
        redact = self.redactor
        output = item.model_output
        brain = output.current_state if output is not None else None
        actions = (
            [a.model_dump(exclude_none=True, mode="json") for a in output.action] if output else []
        )
        metadata = item.metadata
        number = metadata.step_number if metadata else self.steps_before + self.count + 1
        duration = metadata.duration_seconds if metadata else 0.0
        return StepRecord(
            task_id=self.task.task_id,
            step=number,
            evaluation_previous_goal=redact.text(brain.evaluation_previous_goal) if brain else "",
            memory=redact.text(brain.memory) if brain else "",
            next_goal=redact.text(brain.next_goal) if brain else "",
            actions=redact.data(actions),
            errors=[redact.text(r.error) for r in item.result if r.error],
            url=redact.text(item.state.url or ""),
            duration_ms=int(duration * 1000),
            input_tokens=usage[0],
            output_tokens=usage[1],
            created_at=utc_timestamp(utc_now()),
            metadata=self.task.metadata,
        )

    def _store(self, record: StepRecord, screenshot_path: str | None) -> StepRecord:
        if screenshot_path and Path(screenshot_path).is_file():
            key = self.media.screenshot_key(self.task.owner, self.task.task_id, record.step)
            self.media.put(key, Path(screenshot_path).read_bytes(), "image/png")
            record = record.model_copy(update={"screenshot_key": key})
        self.steps.put(record)
        # Charged once per step number: a step replayed after a crash is not paid twice.
        self.metering.charge_step(self.task, record.step)
        self.tasks.record_progress(
            self.task.task_id,
            record.step,
            self.metering.listed_cost_cents(self.task, record.step),
            utc_timestamp(utc_now()),
        )
        return record
