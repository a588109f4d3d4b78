"""What the state machine sends the worker over the WorkQueue, and what the worker answers."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RunChunkMessage(BaseModel):
    """Run up to ``steps_remaining`` steps within ``seconds_remaining``, then answer the token."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["run_chunk"]
    task_id: str
    owner: str
    chunk: int
    attempt: int
    task_token: str
    execution_arn: str
    steps_done: int
    elapsed_seconds: int
    steps_remaining: int
    seconds_remaining: int


class AwaitResumeMessage(BaseModel):
    """The task is paused: keep ``task_token`` on the task so resume/stop can answer it."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["await_resume"]
    task_id: str
    owner: str
    task_token: str
    execution_arn: str


WorkMessage = Annotated[RunChunkMessage | AwaitResumeMessage, Field(discriminator="kind")]


class StepStarted(BaseModel):
    """Recorded on the task when the model has chosen a step's actions, before they run: if
    the worker dies during the step, the next chunk tells the model they may have happened.
    Actions are redacted of the task's secrets."""

    step: int
    actions: list[dict[str, Any]]


ChunkState = Literal["done", "continue", "paused", "stopped", "failed"]


class ChunkResult(BaseModel):
    """The worker's SendTaskSuccess output; the state machine routes on ``state``.

    ``failed`` is a verdict that retrying cannot change (no model key, undecryptable secrets,
    output that breaks the caller's schema); ``error`` is shown to the caller.
    """

    state: ChunkState
    steps: int = Field(ge=0)
    elapsed_seconds: int = Field(ge=0)
    error: str | None = None

    def to_output(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ResumeAnswer(BaseModel):
    """The answer to a paused execution's token; the state machine's ResumeRoute routes on
    ``state``: ``stopped`` ends the task, ``resume`` runs its next chunk.

    stop-task and resume-task answer the token once it is stored; the worker answers it when
    the request came first. Both may answer the same token: the first answer wins.
    """

    model_config = ConfigDict(frozen=True)

    state: Literal["resume", "stopped"]

    def to_output(self) -> dict[str, Any]:
        return self.model_dump()
