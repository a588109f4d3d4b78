"""Answering the state machine's task tokens: a chunk's result, failure or heartbeat, and the
answer to a paused task's token."""

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.errors import aws_call, error_code
from browser_tasks.errors import ServiceUnavailable
from browser_tasks.models.work import ChunkResult, ResumeAnswer

logger = logging.getLogger(__name__)

# Step Functions refuses an answer to a token that was already answered, has timed out, or
# whose execution has ended. The API and the worker may both answer a paused task's token,
# and a chunk's token may time out while the chunk still runs: either way the token's wait is
# already decided, so a refused answer is not a failure (and retrying it could not succeed).
_ARMING_CHECKS = 5
_ARMING_PAUSE_SECONDS = 0.2
ALREADY_DECIDED_ERROR_CODES = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


@contextmanager
def _answering(what: str) -> Iterator[None]:
    with aws_call(what):
        try:
            yield
        except ClientError as error:
            if error_code(error) not in ALREADY_DECIDED_ERROR_CODES:
                raise
            logger.info("%s: the token was already answered (%s)", what, error_code(error))


class TaskTokenCallbacks:
    def succeed(self, task_token: str, result: ChunkResult) -> None:
        with _answering("Reporting the chunk"):
            aws_clients.stepfunctions().send_task_success(
                taskToken=task_token, output=json.dumps(result.to_output())
            )

    def fail(self, task_token: str, error: str, cause: str) -> None:
        """A retryable failure: the state machine runs the chunk again (from its checkpoint)."""
        with _answering("Reporting the chunk failure"):
            aws_clients.stepfunctions().send_task_failure(
                taskToken=task_token, error=error[:256], cause=cause[:32_768]
            )

    def answer_pause(self, task_token: str, answer: ResumeAnswer) -> None:
        """Answer a paused execution's token: ``resume`` runs the next chunk, ``stopped`` ends
        the task. Harmless if the token was already answered."""
        with _answering("Answering the paused task"):
            aws_clients.stepfunctions().send_task_success(
                taskToken=task_token, output=json.dumps(answer.to_output())
            )

    def heartbeat(self, task_token: str) -> None:
        with aws_call("Sending a heartbeat"):
            aws_clients.stepfunctions().send_task_heartbeat(taskToken=task_token)

    def still_waiting(self, task_token: str) -> bool:
        """A heartbeat before a chunk starts. False if the token's wait is already decided:
        a redelivered message whose chunk the state machine has since retried under a new
        token (or ended), which must not run beside the retry.

        InvalidToken is asked again a few times first: moto sends a token task's message
        before it arms the wait, and answers a heartbeat in between with InvalidToken.
        """
        for attempt in range(_ARMING_CHECKS):
            try:
                self.heartbeat(task_token)
            except ServiceUnavailable as error:
                code = (
                    error_code(error.__cause__)
                    if isinstance(error.__cause__, ClientError)
                    else None
                )
                if code == "InvalidToken" and attempt + 1 < _ARMING_CHECKS:
                    time.sleep(_ARMING_PAUSE_SECONDS)
                    continue
                if code in ALREADY_DECIDED_ERROR_CODES:
                    return False
                raise
            return True
        return False
