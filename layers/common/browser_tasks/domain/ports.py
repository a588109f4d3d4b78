"""What the domain needs from the outside world; adapters implement these."""

from typing import Any, Protocol

from browser_tasks.models.task import TaskRecord, TaskStatus


class TaskRepository(Protocol):
    def create(self, task: TaskRecord) -> None:
        """Store a new task; never overwrites an existing id."""

    def get(self, task_id: str) -> TaskRecord | None: ...

    def mark_stopped_if_created(self, task_id: str, finished_at: str) -> bool:
        """``created`` → ``stopped``; False if the task had already left ``created``."""

    def request_stop(self, task_id: str) -> bool:
        """Flag a running or paused task to stop; False if it is no longer either."""

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

    def answer(self, task_token: str, output: dict[str, Any]) -> None:
        """Answer a waiting execution's task token (a paused task's resume token)."""
