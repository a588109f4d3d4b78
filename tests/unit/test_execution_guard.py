"""The execution guard's rules, with in-memory fakes: which endings fail a task, and how."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from browser_tasks.domain.execution_guard import (
    ExecutionGuard,
    GuardResult,
    GuardVerdict,
    unexpected_end_reason,
)
from browser_tasks.errors import ServiceUnavailable
from browser_tasks.models.execution import ExecutionStatusChange
from browser_tasks.models.status_events import TaskStatusChange, WebhookTestRequest
from browser_tasks.models.task import TaskRecord, TaskStatus

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:tasks"
NOW = datetime(2025, 11, 30, 10, 0, tzinfo=UTC)
METADATA = {"order": "42"}


@dataclass
class FakeTasks:
    """Tasks by id: (owner, status); every task's metadata is ``METADATA``."""

    tasks: dict[str, tuple[str, str]]
    reasons: dict[str, str] = field(default_factory=dict)

    def fail_if_unfinished(
        self, task_id: str, reason: str, *, finished_at: str
    ) -> TaskRecord | None:
        owner, status = self.tasks.get(task_id, ("", "unknown"))
        if status not in ("created", "running", "paused"):
            return None
        self.tasks[task_id] = (owner, "failed")
        self.reasons[task_id] = reason
        return TaskRecord(
            task_id=task_id,
            owner=owner,
            task="t",
            status=TaskStatus.FAILED,
            created_at=finished_at,
            settings={},
            metadata=METADATA,
            failure_reason=reason,
        )


@dataclass
class FakeEvents:
    broken: bool = False
    sent: list[TaskStatusChange] = field(default_factory=list)

    def task_status_changed(self, change: TaskStatusChange) -> None:
        if self.broken:
            raise ServiceUnavailable("Announcing the status change failed (InternalException)")
        self.sent.append(change)

    def webhook_test_requested(self, request: WebhookTestRequest) -> None:
        raise AssertionError("the guard never asks for a webhook test")


def _change(status: str, name: str = "task_1", **fields: str) -> ExecutionStatusChange:
    return ExecutionStatusChange.model_validate(
        {
            "executionArn": f"{MACHINE}:{name}".replace("stateMachine", "execution"),
            "stateMachineArn": MACHINE,
            "name": name,
            "status": status,
            **fields,
        }
    )


def _guard(tasks: FakeTasks, events: FakeEvents) -> ExecutionGuard:
    return ExecutionGuard(tasks=tasks, events=events, state_machine_arn=MACHINE, clock=lambda: NOW)


def test_a_running_tasks_aborted_execution_fails_it_and_says_so() -> None:
    tasks, events = FakeTasks({"task_1": ("alice", "running")}), FakeEvents()

    result = _guard(tasks, events).execution_ended(_change("ABORTED"))

    reason = "The task's workflow ended unexpectedly: execution ABORTED"
    assert result == GuardResult(GuardVerdict.TASK_FAILED, "task_1", announced=True)
    assert tasks.tasks["task_1"] == ("alice", "failed")
    assert tasks.reasons["task_1"] == reason
    assert events.sent == [
        TaskStatusChange(
            task_id="task_1",
            owner="alice",
            status=TaskStatus.FAILED,
            metadata=METADATA,
            timestamp=NOW,
            failure_reason=reason,
        )
    ]


def test_the_reason_carries_the_error_and_the_start_of_the_cause() -> None:
    assert unexpected_end_reason(_change("TIMED_OUT")) == (
        "The task's workflow ended unexpectedly: execution TIMED_OUT"
    )
    assert unexpected_end_reason(_change("FAILED", error="States.Runtime")) == (
        "The task's workflow ended unexpectedly: execution FAILED (States.Runtime)"
    )
    assert unexpected_end_reason(_change("FAILED", error="E", cause="c" * 501)) == (
        f"The task's workflow ended unexpectedly: execution FAILED (E: {'c' * 500}...)"
    )


def test_an_event_that_cannot_be_sent_does_not_undo_the_failure() -> None:
    tasks, events = FakeTasks({"task_1": ("alice", "paused")}), FakeEvents(broken=True)

    result = _guard(tasks, events).execution_ended(_change("TIMED_OUT"))

    assert result == GuardResult(GuardVerdict.TASK_FAILED, "task_1", announced=False)
    assert tasks.tasks["task_1"] == ("alice", "failed")


def test_succeeded_running_and_other_machines_executions_touch_nothing() -> None:
    tasks, events = FakeTasks({"task_1": ("alice", "running")}), FakeEvents()
    guard = _guard(tasks, events)
    other = _change("ABORTED").model_copy(update={"state_machine_arn": MACHINE + "-other"})

    results = [guard.execution_ended(c) for c in (_change("SUCCEEDED"), _change("RUNNING"), other)]

    assert {r.verdict for r in results} == {GuardVerdict.IGNORED}
    assert tasks.tasks["task_1"] == ("alice", "running")
    assert events.sent == []


def test_an_ended_task_stays_as_it_was_and_nothing_is_announced() -> None:
    tasks, events = FakeTasks({"task_1": ("alice", "stopped")}), FakeEvents()

    result = _guard(tasks, events).execution_ended(_change("ABORTED"))

    assert result.verdict is GuardVerdict.ALREADY_ENDED
    assert tasks.tasks["task_1"] == ("alice", "stopped")
    assert events.sent == []
