"""What EventBridge does for the execution guard on AWS: tell it of executions that ended badly.

moto's Step Functions emits no "Execution Status Change" events and moto's EventBridge cannot
target a Lambda function, so the local stack polls the task state machine's executions and hands
each one that FAILED, TIMED_OUT or was ABORTED to the guard function once, as an event of the
shape EventBridge delivers.
"""

import logging
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from browser_tasks.adapters import aws_clients
from browser_tasks.local.provision import ACCOUNT_ID
from browser_tasks.local.queue_pollers import Invocable

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.literals import ExecutionStatusType

logger = logging.getLogger(__name__)

# The statuses the template's rule matches.
WATCHED_STATUSES: tuple["ExecutionStatusType", ...] = ("FAILED", "TIMED_OUT", "ABORTED")
# As Lambda's asynchronous invocation (which EventBridge uses): the first try and two retries.
DELIVERY_ATTEMPTS = 3


class ExecutionWatch:
    def __init__(
        self,
        state_machine_arn: str,
        function: Invocable,
        region: str,
        interval_seconds: float = 2.0,
    ) -> None:
        self._state_machine_arn = state_machine_arn
        self._function = function
        self._region = region
        self._interval = interval_seconds
        self._settled: set[str] = set()  # delivered, or given up on after DELIVERY_ATTEMPTS
        self._failed_attempts: Counter[str] = Counter()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="execution-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop watching; returns once a delivery in progress has finished."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def poll_once(self) -> int:
        """Deliver every execution that ended badly and was not delivered yet; how many."""
        delivered = 0
        for arn in self._ended_badly():
            if arn in self._settled or self._stopping.is_set():
                continue
            try:
                self._function.invoke(self._event(arn))
            except Exception:
                self._failed_attempts[arn] += 1
                if self._failed_attempts[arn] < DELIVERY_ATTEMPTS:
                    logger.warning("Execution guard failed for %s; retrying", arn, exc_info=True)
                    continue
                # On AWS the event would now sit in the guard's dead-letter queue.
                logger.error("Execution guard gave up on %s", arn, exc_info=True)
            else:
                delivered += 1
            self._settled.add(arn)
        return delivered

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.poll_once()
            except Exception:  # keep watching, as EventBridge would keep delivering
                logger.exception("Watching the task executions failed")

    def _ended_badly(self) -> list[str]:
        pages = aws_clients.stepfunctions().get_paginator("list_executions")
        return [
            execution["executionArn"]
            for status in WATCHED_STATUSES
            for page in pages.paginate(stateMachineArn=self._state_machine_arn, statusFilter=status)
            for execution in page["executions"]
        ]

    def _event(self, execution_arn: str) -> dict[str, Any]:
        execution = aws_clients.stepfunctions().describe_execution(executionArn=execution_arn)
        stopped = execution.get("stopDate") or datetime.now(UTC)
        return status_change_event(
            {
                "executionArn": execution_arn,
                "stateMachineArn": execution["stateMachineArn"],
                "name": execution["name"],
                "status": execution["status"],
                "startDate": _epoch_millis(execution["startDate"]),
                "stopDate": _epoch_millis(stopped),
                "input": execution.get("input"),
                "inputDetails": {"included": "input" in execution},
                "output": None,
                "outputDetails": None,
                "error": execution.get("error"),
                "cause": execution.get("cause"),
            },
            self._region,
            stopped,
        )


def status_change_event(detail: dict[str, Any], region: str, time: datetime) -> dict[str, Any]:
    """An EventBridge "Step Functions Execution Status Change" event around ``detail``."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": ACCOUNT_ID,
        "time": time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [detail["executionArn"]],
        "detail": detail,
    }


def _epoch_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
