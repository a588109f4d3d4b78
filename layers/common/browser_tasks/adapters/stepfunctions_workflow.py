"""Starting a task's state machine execution, named by the task id, and answering its pause."""

import json
from typing import Any

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.errors import aws_call
from browser_tasks.adapters.stepfunctions_callbacks import TaskTokenCallbacks
from browser_tasks.models.work import ResumeAnswer


class StepFunctionsWorkflow:
    def __init__(self, state_machine_arn: str) -> None:
        self._arn = state_machine_arn

    def start(self, execution_name: str, execution_input: dict[str, Any]) -> str:
        # The name makes the start idempotent: a second start of the same task is refused.
        with aws_call("Starting the task's workflow"):
            response = aws_clients.stepfunctions().start_execution(
                stateMachineArn=self._arn, name=execution_name, input=json.dumps(execution_input)
            )
        return response["executionArn"]

    def answer(self, task_token: str, answer: ResumeAnswer) -> None:
        # The worker answers the same tokens; one implementation keeps "already answered is
        # harmless" the same on both sides.
        TaskTokenCallbacks().answer_pause(task_token, answer)
