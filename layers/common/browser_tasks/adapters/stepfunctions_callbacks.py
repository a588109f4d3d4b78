"""Answering the state machine's task token: success with a chunk result, or a heartbeat."""

import json

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.errors import aws_call
from browser_tasks.models.work import ChunkResult


class TaskTokenCallbacks:
    def succeed(self, task_token: str, result: ChunkResult) -> None:
        with aws_call("Reporting the chunk"):
            aws_clients.stepfunctions().send_task_success(
                taskToken=task_token, output=json.dumps(result.to_output())
            )

    def fail(self, task_token: str, error: str, cause: str) -> None:
        """A retryable failure: the state machine runs the chunk again (from its checkpoint)."""
        with aws_call("Reporting the chunk failure"):
            aws_clients.stepfunctions().send_task_failure(
                taskToken=task_token, error=error[:256], cause=cause[:32_768]
            )

    def heartbeat(self, task_token: str) -> None:
        with aws_call("Sending a heartbeat"):
            aws_clients.stepfunctions().send_task_heartbeat(taskToken=task_token)
