"""Creating a task and reading it back, the same for every entry point."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from browser_tasks.domain.ids import new_task_id
from browser_tasks.domain.ports import SecretsCipher, TaskRepository, Workflow
from browser_tasks.domain.pricing import task_cost_cents
from browser_tasks.domain.uploads import UploadService
from browser_tasks.errors import ServiceUnavailable, TaskConflict, TaskNotFound, TaskStartFailed
from browser_tasks.models.run_task import RunTaskRequest
from browser_tasks.models.task import TaskRecord, TaskStatus, utc_timestamp


def secrets_context(task_id: str, owner: str) -> dict[str, str]:
    """KMS encryption context: a task's secrets decrypt only for that task and owner."""
    return {"task_id": task_id, "owner": owner}


@dataclass(frozen=True)
class TaskService:
    tasks: TaskRepository
    cipher: SecretsCipher
    workflow: Workflow
    uploads: UploadService
    clock: Callable[[], datetime]
    time_limit_seconds: int

    def create_task(self, owner: str, request: RunTaskRequest) -> TaskRecord:
        """Seal the secrets, store the task as ``created`` and start its execution.

        Raises
        ------
        RequestInvalid
            A named file was never uploaded by this owner, or the size limits do not hold.
        ServiceUnavailable
            KMS or DynamoDB failed before anything was stored.
        TaskStartFailed
            The task was stored but its execution did not start; it is now ``failed``.
        """
        if request.included_file_names:
            self.uploads.check_included(owner, list(request.included_file_names))
        now = self.clock()
        task_id = new_task_id(now)
        ciphertext = None
        if request.secrets:
            ciphertext = self.cipher.encrypt(
                json.dumps(request.secrets), secrets_context(task_id, owner)
            )
        record = TaskRecord(
            task_id=task_id,
            owner=owner,
            task=request.task,
            status=TaskStatus.CREATED,
            created_at=utc_timestamp(now),
            settings=request.settings_without_secrets(),
            metadata=request.metadata or {},
            secrets_ciphertext=ciphertext,
            cost_cents=task_cost_cents(request.llm_model, 0),
        )
        self.tasks.create(record)
        try:
            self.workflow.start(task_id, self._execution_input(record, request))
        except ServiceUnavailable as error:
            self.tasks.mark_failed(
                task_id,
                f"the workflow could not be started: {error.detail}",
                finished_at=utc_timestamp(self.clock()),
                expected=TaskStatus.CREATED,
            )
            raise TaskStartFailed(task_id, error.detail) from error
        return record

    def get(self, owner: str, task_id: str) -> TaskRecord:
        """The owner's task; another owner's id is as unknown as a made-up one."""
        record = self.tasks.get(task_id)
        if record is None or record.owner != owner:
            raise TaskNotFound()
        return record

    def stop(self, owner: str, task_id: str) -> None:
        """Stop a task for good, whatever non-terminal state it is in.

        ``created``: it is stopped at once (its execution then finds it not ``created`` and
        ends). ``running``: the worker is asked to stop after the current step. ``paused``: the
        waiting execution is answered ``stopped``.
        """
        record = self.get(owner, task_id)
        if record.status.is_terminal:
            raise TaskConflict(f"Task is already {record.status.value}; it cannot be stopped")
        if record.status is TaskStatus.CREATED and self.tasks.mark_stopped_if_created(
            task_id, utc_timestamp(self.clock())
        ):
            return
        if not self.tasks.request_stop(task_id):
            raise TaskConflict("Task ended before it could be stopped")
        if record.status is TaskStatus.PAUSED and record.resume_token:
            self.workflow.answer(record.resume_token, {"state": "stopped"})

    def _execution_input(self, record: TaskRecord, request: RunTaskRequest) -> dict[str, object]:
        # Counters the state machine carries between chunks; no request content, no secrets.
        return {
            "task_id": record.task_id,
            "owner": record.owner,
            "max_agent_steps": request.max_agent_steps,
            "time_limit_seconds": self.time_limit_seconds,
            "chunk": 0,
            "steps_done": 0,
            "elapsed_seconds": 0,
            "retries": 0,
        }
