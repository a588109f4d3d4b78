"""Creating a task and reading it back, the same for every entry point."""

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from browser_tasks.domain.browser_profiles import task_settings_with_profile
from browser_tasks.domain.ids import new_task_id
from browser_tasks.domain.metering import Metering
from browser_tasks.domain.ports import (
    BrowserProfileLookup,
    SecretsCipher,
    StatusEvents,
    TaskLookup,
    TaskRepository,
    Workflow,
)
from browser_tasks.domain.task_pages import new_page_token
from browser_tasks.domain.uploads import UploadService
from browser_tasks.errors import (
    RequestInvalid,
    ServiceUnavailable,
    TaskAlreadyExists,
    TaskConflict,
    TaskNotFound,
    TaskStartFailed,
)
from browser_tasks.models.run_task import RunTaskRequest
from browser_tasks.models.status_events import TaskStatusChange
from browser_tasks.models.task import TaskOrigin, TaskRecord, TaskStatus, utc_timestamp
from browser_tasks.models.work import ResumeAnswer

logger = logging.getLogger(__name__)


def secrets_context(task_id: str, owner: str) -> dict[str, str]:
    """KMS encryption context: a task's secrets decrypt only for that task and owner."""
    return {"task_id": task_id, "owner": owner}


def owned_task(tasks: TaskLookup, owner: str, task_id: str) -> TaskRecord:
    """The owner's task; another owner's id is as unknown as a made-up one (``TaskNotFound``)."""
    record = tasks.get(task_id)
    if record is None or record.owner != owner:
        raise TaskNotFound()
    return record


@dataclass(frozen=True)
class TaskService:
    tasks: TaskRepository
    cipher: SecretsCipher
    workflow: Workflow
    events: StatusEvents
    uploads: UploadService
    profiles: BrowserProfileLookup
    metering: Metering
    clock: Callable[[], datetime]
    time_limit_seconds: int  # when the request names none
    max_time_limit_seconds: int

    def create_task(
        self,
        owner: str,
        request: RunTaskRequest,
        *,
        origin: TaskOrigin | None = None,
        task_id: str | None = None,
    ) -> TaskRecord:
        """Seal the secrets, store the task as ``created`` and start its execution.

        The one way a task comes to be, whichever entry point asks (API, S3 spec, RunTask
        event, schedule). ``origin`` records which; ``task_id`` lets a trigger choose the id
        before it creates the task, so a redelivered notification finds the same one.

        Raises
        ------
        RequestInvalid
            A named file was never uploaded by this owner, or the size limits do not hold,
            or the named browser profile is not the owner's.
        InsufficientBalance
            With billing on, the balance is below the start fee plus one step.
        ServiceUnavailable
            KMS or DynamoDB failed before anything was stored (nothing is charged).
        TaskAlreadyExists
            ``task_id`` is already taken: another delivery of the same trigger created it
            first (nothing is charged).
        TaskStartFailed
            The task was stored but its execution did not start; it is now ``failed`` and
            its start fee refunded.
        """
        settings = self.checked_settings(owner, request)
        now = self.clock()
        task_id = task_id or new_task_id(now)
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
            settings=settings,
            metadata=request.metadata or {},
            secrets_ciphertext=ciphertext,
            cost_cents=self.metering.prices.task_cost_cents(request.llm_model, 0),
            live_token=new_page_token(),
            share_token=new_page_token() if request.enable_public_share else None,
            origin=origin,
        )
        # Charged before the task exists, so a task is never stored unpaid; given back if
        # it then never runs.
        fee = self.metering.charge_task_start(owner, request.llm_model)
        try:
            self.tasks.create(record)
        except (ServiceUnavailable, TaskAlreadyExists):
            # Nothing of ours was stored (the task that exists is another delivery's): the fee
            # goes back to the balance, and that task's own cost stays as it is.
            self.metering.refund_task_start(owner, None, fee)
            raise
        # Announced before the execution starts, so that ``created`` is on the bus before the
        # execution's own ``running`` (putting it after StartExecution races EmitRunning).
        self._announce(record, TaskStatus.CREATED, now)
        try:
            self.workflow.start(task_id, self._execution_input(record, request))
        except ServiceUnavailable as error:
            reason = f"the workflow could not be started: {error.detail}"
            failed_at = self.clock()
            if self.tasks.mark_failed(
                task_id, reason, finished_at=utc_timestamp(failed_at), expected=TaskStatus.CREATED
            ):
                self._announce(record, TaskStatus.FAILED, failed_at, reason)
            self.metering.refund_task_start(owner, task_id, fee)
            raise TaskStartFailed(task_id, error.detail) from error
        return record

    def get(self, owner: str, task_id: str) -> TaskRecord:
        """The owner's task; another owner's id is as unknown as a made-up one."""
        return owned_task(self.tasks, owner, task_id)

    def stop(self, owner: str, task_id: str) -> None:
        """Stop a task for good, whatever non-terminal state it is in.

        ``created``: it is stopped at once (its execution then finds it not ``created`` and
        ends). ``running``: the worker is asked to stop after the current step. ``paused``: the
        waiting execution is answered ``stopped`` — here if its token is already stored, else
        by the worker when it stores the token and finds the flag.

        Raises
        ------
        TaskNotFound
            Unknown id, or another owner's task.
        TaskConflict
            The task has already ended.
        """
        record = self.get(owner, task_id)
        if record.status.is_terminal:
            raise TaskConflict(f"Task is already {record.status.value}; it cannot be stopped")
        stopped_at = self.clock()
        if record.status is TaskStatus.CREATED and self.tasks.mark_stopped_if_created(
            task_id, utc_timestamp(stopped_at)
        ):
            # The execution will find it not created and end silently: announced here.
            self._announce(record, TaskStatus.STOPPED, stopped_at)
            return
        stopping = self.tasks.request_stop(task_id)
        if stopping is None:
            raise TaskConflict("Task ended before it could be stopped")
        if stopping.resume_token:
            self.workflow.answer(stopping.resume_token, ResumeAnswer(state="stopped"))

    def pause(self, owner: str, task_id: str) -> None:
        """Ask a created or running task to pause; the worker pauses it after the current step.

        Asking again before it has paused changes nothing.

        Raises
        ------
        TaskNotFound
            Unknown id, or another owner's task.
        TaskConflict
            The task has ended, is already paused, or is being stopped.
        """
        record = self.get(owner, task_id)
        if record.status.is_terminal:
            raise TaskConflict(f"Task is already {record.status.value}; it cannot be paused")
        if record.status is TaskStatus.PAUSED:
            raise TaskConflict("Task is already paused")
        if record.stop_requested:
            raise TaskConflict("Task is being stopped; it cannot be paused")
        if not self.tasks.request_pause(task_id):
            raise TaskConflict("Task changed state before it could be paused; read its status")

    def resume(self, owner: str, task_id: str) -> None:
        """Resume a paused task: its waiting execution is answered ``resume`` — here if its
        token is already stored, else by the worker when it stores the token and finds the
        flag. Asking again before it has resumed changes nothing.

        Raises
        ------
        TaskNotFound
            Unknown id, or another owner's task.
        TaskConflict
            The task is not paused, or is being stopped.
        """
        record = self.get(owner, task_id)
        if record.status is not TaskStatus.PAUSED:
            raise TaskConflict(f"Task is {record.status.value}; only a paused task can be resumed")
        if record.stop_requested:
            raise TaskConflict("Task is being stopped; it cannot be resumed")
        resuming = self.tasks.request_resume(task_id)
        if resuming is None:
            raise TaskConflict("Task changed state before it could be resumed; read its status")
        if resuming.resume_token:
            self.workflow.answer(resuming.resume_token, ResumeAnswer(state="resume"))

    def checked_settings(self, owner: str, request: RunTaskRequest) -> dict[str, Any]:
        """The rules of a request that depend on this deployment and this owner — the time
        limit's maximum, the named uploads, the browser profile — checked; then what the task
        item stores of it: with a browser profile, the profile's settings stand in for those
        the request left unset. Schedules check their request with it when they are saved.

        Raises
        ------
        RequestInvalid
            One of those rules does not hold.
        """
        if (request.time_limit_seconds or 0) > self.max_time_limit_seconds:
            raise RequestInvalid(
                [
                    (
                        ["body", "time_limit_seconds"],
                        f"Input should be less than or equal to {self.max_time_limit_seconds} "
                        "(this deployment's maximum)",
                        "less_than_equal",
                    )
                ]
            )
        if request.included_file_names:
            self.uploads.check_included(owner, list(request.included_file_names))
        settings = request.settings_without_secrets()
        if request.browser_profile_id is None:
            return settings
        profile = self.profiles.get(owner, request.browser_profile_id)
        if profile is None:  # another owner's too: as unknown as a made-up id
            raise RequestInvalid(
                [(["body", "browser_profile_id"], "Browser profile not found", "value_error")]
            )
        return task_settings_with_profile(settings, profile, request.model_fields_set)

    def _announce(
        self,
        record: TaskRecord,
        status: TaskStatus,
        at: datetime,
        failure_reason: str | None = None,
    ) -> None:
        """Best effort: the stored status is what callers read; a lost event costs a webhook
        call, never the task (the API still answers run-task)."""
        change = TaskStatusChange(
            task_id=record.task_id,
            owner=record.owner,
            status=status,
            metadata=record.metadata,
            timestamp=at,
            failure_reason=failure_reason,
        )
        try:
            self.events.task_status_changed(change)
        except ServiceUnavailable as error:
            logger.warning(
                "Status event not sent",
                extra={"task_id": record.task_id, "status": status.value, "error": error.detail},
            )

    def _execution_input(self, record: TaskRecord, request: RunTaskRequest) -> dict[str, object]:
        # Counters the state machine carries between chunks, and the caller's metadata for its
        # status events; no task text, no secrets.
        return {
            "task_id": record.task_id,
            "owner": record.owner,
            "metadata": record.metadata,
            "max_agent_steps": request.max_agent_steps,
            "time_limit_seconds": request.time_limit_seconds or self.time_limit_seconds,
            "chunk": 0,
            "steps_done": 0,
            "elapsed_seconds": 0,
            "retries": 0,
        }
