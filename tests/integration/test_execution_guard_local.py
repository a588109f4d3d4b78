"""``browser-tasks local``: a task whose execution is stopped from outside ends ``failed``.

The execution guard's path end to end: StopExecution → the execution ABORTED → the stack's
execution watch (EventBridge's stand-in) → ExecutionGuardFunction → the task failed.
"""

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests

from tests.fakes.scripted_llm import ScriptedLLM
from tests.local_stack_process import LocalStackProcess, local_stack_process

API_KEY = "bt_local_test_guard_key_0123456789"
FIRST_STEP_SECONDS = 90  # worker start, Chromium, the agent's first model call
ENDED_SECONDS = 20
REASON = "The task's workflow ended unexpectedly: execution ABORTED"


@dataclass
class HeldModel:
    """A scripted model that holds the agent's first step until it is let go."""

    llm: ScriptedLLM
    in_first_step: threading.Event
    let_go: threading.Event


@pytest.fixture
def held_model() -> Iterator[HeldModel]:
    in_first_step, let_go = threading.Event(), threading.Event()

    def hold_the_first_step(request: dict[str, Any], step: int) -> list[dict[str, Any]]:
        in_first_step.set()
        let_go.wait(FIRST_STEP_SECONDS + ENDED_SECONDS)
        return [{"done": {"text": "Too late: the execution was stopped", "success": True}}]

    with ScriptedLLM(hold_the_first_step) as llm:
        try:
            yield HeldModel(llm, in_first_step, let_go)
        finally:
            let_go.set()


def _aws(stack: LocalStackProcess, service: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=stack.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def _execution_arn(stack: LocalStackProcess, task_id: str) -> str:
    sfn = _aws(stack, "stepfunctions")
    (machine,) = sfn.list_state_machines()["stateMachines"]
    executions = sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
    (arn,) = [e["executionArn"] for e in executions if e["name"] == task_id]
    return str(arn)


def _task_item(stack: LocalStackProcess, task_id: str) -> dict[str, Any]:
    dynamodb = _aws(stack, "dynamodb")
    (table,) = [t for t in dynamodb.list_tables()["TableNames"] if "TasksTable" in t]
    item: dict[str, Any] = dynamodb.get_item(
        TableName=table, Key={"task_id": {"S": task_id}}, ConsistentRead=True
    )["Item"]
    return item


def test_a_task_whose_execution_is_aborted_ends_failed_saying_so(held_model: HeldModel) -> None:
    environment = {"OPENAI_BASE_URL": held_model.llm.base_url, "OPENAI_API_KEY": "sk-scripted"}
    with local_stack_process(API_KEY, extra_env=environment) as stack:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        task_id = requests.post(
            f"{stack.api_url}/run-task", json={"task": "Say hi"}, headers=headers, timeout=30
        ).json()["id"]
        # The worker is inside the agent's first step: it cannot end the task before the stop.
        assert held_model.in_first_step.wait(FIRST_STEP_SECONDS), stack.log
        arn = _execution_arn(stack, task_id)

        _aws(stack, "stepfunctions").stop_execution(executionArn=arn)
        # AWS ends a stopped execution at once; moto only once its task token is answered,
        # which the worker does when its step is let go.
        held_model.let_go.set()

        deadline = time.monotonic() + ENDED_SECONDS
        status = ""
        while status != "failed" and time.monotonic() < deadline:
            time.sleep(0.2)
            status = requests.get(
                f"{stack.api_url}/task/{task_id}/status", headers=headers, timeout=30
            ).json()
        assert status == "failed", stack.log
        assert _aws(stack, "stepfunctions").describe_execution(executionArn=arn)["status"] == (
            "ABORTED"
        )
        item = _task_item(stack, task_id)
        assert item["failure_reason"]["S"] == REASON
        assert item["finished_at"]["S"]
