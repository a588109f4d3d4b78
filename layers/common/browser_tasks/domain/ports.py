"""What the domain needs from the outside world; adapters implement these."""

from typing import Any, Protocol

from browser_tasks.models.task import TaskRecord, TaskStatus
from browser_tasks.models.work import ResumeAnswer


class TaskRepository(Protocol):
    def create(self, task: TaskRecord) -> None:
        """Store a new task; never overwrites an existing id."""

    def get(self, task_id: str) -> TaskRecord | None: ...

    def mark_stopped_if_created(self, task_id: str, finished_at: str) -> bool:
        """``created`` → ``stopped``; False if the task had already left ``created``."""

    def request_stop(self, task_id: str) -> TaskRecord | None:
        """Flag a created, running or paused task to stop; the task as written (its
        ``resume_token`` read with the flag, atomically), or None if it is in none of those."""

    def request_pause(self, task_id: str) -> bool:
        """Flag a created or running task, not being stopped, to pause; False if it is not."""

    def request_resume(self, task_id: str) -> TaskRecord | None:
        """Flag a paused task, not being stopped, to resume; the task as written (its
        ``resume_token`` read with the flag, atomically), or None if it is not such a task."""

    def mark_failed(
        self, task_id: str, reason: str, *, finished_at: str, expected: TaskStatus
    ) -> bool:
        """Set ``failed`` with a reason if the task is still ``expected``; False if not."""


class ApiKeyRepository(Protocol):
    def owner_of(self, key_hash: str) -> str | None: ...

    def add(self, key_hash: str, owner: str, created_at: str) -> None: ...


class SecretsCipher(Protocol):
    def encrypt(self, plaintext: str, context: dict[str, str]) -> str:
        """Envelope-encrypt ``plaintext``; only the same ``context`` decrypts it."""

    def decrypt(self, ciphertext: str, context: dict[str, str]) -> str: ...


class Workflow(Protocol):
    def start(self, execution_name: str, execution_input: dict[str, Any]) -> str:
        """Start the task's state machine execution; return its ARN."""

    def answer(self, task_token: str, answer: ResumeAnswer) -> None:
        """Answer a paused execution's token; harmless if it was already answered."""


class UnfinishedTasks(Protocol):
    def fail_if_unfinished(self, task_id: str, reason: str, *, finished_at: str) -> str | None:
        """Set ``failed`` with a reason if the task is ``created``, ``running`` or ``paused``,
        and ask a worker still running it to stop; return its owner, or None if the task had
        already ended (or does not exist)."""


class StatusEvents(Protocol):
    def task_status_changed(
        self, task_id: str, owner: str, status: TaskStatus, failure_reason: str | None = None
    ) -> None:
        """Announce a status change (TaskStatusChanged on the stack's bus), as the state
        machine does; raise ``ServiceUnavailable`` if it could not be sent."""
