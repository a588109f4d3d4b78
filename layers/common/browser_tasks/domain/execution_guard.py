"""Failing a task whose state machine execution ended without ending the task.

The state machine gives every task a terminal status itself, and its executions succeed. An
execution that FAILS (an error no Catch handles), TIMES_OUT (the 8-day backstop) or is ABORTED
(StopExecution from outside) never reaches those states, and its task would stay ``created``,
``running`` or ``paused`` forever. The guard is the path that still ends it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from browser_tasks.domain.ports import StatusEvents, UnfinishedTasks
from browser_tasks.errors import ServiceUnavailable
from browser_tasks.models.execution import ExecutionStatusChange
from browser_tasks.models.status_events import TaskStatusChange
from browser_tasks.models.task import TaskStatus, utc_timestamp

# Step Functions' statuses for an execution that ended without reaching its own end states.
UNEXPECTED_END_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
# A cause can be a whole stack trace; the caller needs its start, not all of it.
MAX_CAUSE_CHARS = 500


class GuardVerdict(StrEnum):
    IGNORED = "ignored"  # another state machine's execution, or one that did not end badly
    ALREADY_ENDED = "already_ended"  # the task was terminal (or unknown): left as it was
    TASK_FAILED = "task_failed"


@dataclass(frozen=True)
class GuardResult:
    verdict: GuardVerdict
    task_id: str
    announced: bool = False  # the TaskStatusChanged event went out


def unexpected_end_reason(change: ExecutionStatusChange) -> str:
    """The failure reason a caller reads, naming the execution's status (and its error)."""
    reason = f"The task's workflow ended unexpectedly: execution {change.status}"
    cause = change.cause or ""
    if len(cause) > MAX_CAUSE_CHARS:
        cause = cause[:MAX_CAUSE_CHARS] + "..."
    details = ": ".join(part for part in (change.error, cause) if part)
    return f"{reason} ({details})" if details else reason


@dataclass(frozen=True)
class ExecutionGuard:
    tasks: UnfinishedTasks
    events: StatusEvents
    state_machine_arn: str  # only this machine's executions are tasks
    clock: Callable[[], datetime]

    def execution_ended(self, change: ExecutionStatusChange) -> GuardResult:
        """Fail the execution's task if it is still ``created``, ``running`` or ``paused``.

        The execution's name is its task's id (executions are started named by it). The update
        is conditional, so a task that already ended (e.g. stopped, then its execution aborted)
        keeps its status, and a redelivered event changes nothing. Announcing the change is
        best effort: the task's status is what callers and webhooks' retries rely on.

        Raises
        ------
        ServiceUnavailable
            The task could not be updated; the event should be delivered again.
        """
        task_id = change.name
        if (
            change.state_machine_arn != self.state_machine_arn
            or change.status not in UNEXPECTED_END_STATUSES
        ):
            return GuardResult(GuardVerdict.IGNORED, task_id)
        reason = unexpected_end_reason(change)
        now = self.clock()
        failed = self.tasks.fail_if_unfinished(task_id, reason, finished_at=utc_timestamp(now))
        if failed is None:
            return GuardResult(GuardVerdict.ALREADY_ENDED, task_id)
        try:
            self.events.task_status_changed(
                TaskStatusChange(
                    task_id=task_id,
                    owner=failed.owner,
                    status=TaskStatus.FAILED,
                    metadata=failed.metadata,
                    timestamp=now,
                    failure_reason=reason,
                )
            )
        except ServiceUnavailable:
            return GuardResult(GuardVerdict.TASK_FAILED, task_id, announced=False)
        return GuardResult(GuardVerdict.TASK_FAILED, task_id, announced=True)
