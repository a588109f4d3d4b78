"""Helpers for tests: an in-process stack on moto, API calls, and a sweep of every store."""

import importlib.util
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3
from moto import mock_aws

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.dynamodb_items import to_item
from browser_tasks.local.api_gateway import rest_proxy_event
from browser_tasks.local.lambda_runtime import InProcessFunction
from browser_tasks.local.provision import FunctionSpec, Provisioner
from browser_tasks.local.template import load_template
from browser_tasks.services import api_key_service, reset_services
from tests.conftest import ALICE_KEY, BOB_KEY, PROJECT_ROOT


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, list[str]]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class InProcessStack:
    """The template provisioned on in-process moto and the real API handler."""

    api: InProcessFunction
    resources: dict[str, str]
    environment: dict[str, str]
    functions: dict[str, FunctionSpec] = field(default_factory=dict)  # every function's spec

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw_body: str | None = None,
        key: str | None = ALICE_KEY,
        headers: dict[str, str] | None = None,
    ) -> ApiResponse:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            all_headers["Authorization"] = f"Bearer {key}"
        payload = (
            raw_body if raw_body is not None else (json.dumps(body) if body is not None else "")
        )
        event = rest_proxy_event(method, path, all_headers, payload.encode(), "127.0.0.1")
        response = self.api.invoke(event)
        return ApiResponse(
            response["statusCode"], response.get("multiValueHeaders") or {}, response["body"]
        )


# Called with every in-process stack just before it is torn down (its moto still holds what the
# test left): the reliability suite sweeps each one's stores for its canary secret here.
BEFORE_STOP: list[Callable[[InProcessStack], None]] = []


@contextmanager
def in_process_stack(
    monkeypatch: Any,
    execute_state_machine: bool = False,
    *,
    parameters: dict[str, str] | None = None,
) -> Iterator[InProcessStack]:
    """Provision ``template.yaml`` on in-process moto and load the API function.

    ``parameters`` overrides template parameters, like ``sam deploy --parameter-overrides``.
    """
    for name, value in (
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": execute_state_machine}}):
        provisioner = Provisioner(
            load_template(PROJECT_ROOT / "template.yaml"),
            PROJECT_ROOT,
            "test",
            "us-east-1",
            parameter_overrides=parameters,
        )
        resources = provisioner.provision_all()
        spec = provisioner.functions["ApiFunction"]
        for name, value in spec.environment.items():
            monkeypatch.setenv(name, value)
        reset_services()
        api_key_service().register(ALICE_KEY, "alice")
        api_key_service().register(BOB_KEY, "bob")
        stack = InProcessStack(
            InProcessFunction(spec), resources, spec.environment, provisioner.functions
        )
        try:
            yield stack
        finally:
            try:
                for hook in BEFORE_STOP:
                    hook(stack)
            finally:
                stop_all_executions()
                reset_services()


def stop_all_executions() -> None:
    client = boto3.client("stepfunctions")
    for machine in client.list_state_machines()["stateMachines"]:
        for execution in client.list_executions(
            stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
        )["executions"]:
            client.stop_execution(executionArn=execution["executionArn"])


def all_table_items() -> dict[str, list[dict[str, Any]]]:
    client = boto3.client("dynamodb")
    return {
        name: client.scan(TableName=name)["Items"] for name in client.list_tables()["TableNames"]
    }


def tasks_in_table() -> list[dict[str, Any]]:
    return [i for name, items in all_table_items().items() if "TasksTable" in name for i in items]


def task_item(task_id: str) -> dict[str, Any]:
    """One task's raw DynamoDB item."""
    (item,) = [t for t in tasks_in_table() if t["task_id"]["S"] == task_id]
    return item


def set_task_fields(stack: InProcessStack, task_id: str, **fields: str | bool) -> None:
    """Overwrite fields of a stored task as the state machine or the worker would (its status,
    a stored resume token), to put it in the state a test needs."""
    values = to_item(fields)
    boto3.client("dynamodb").update_item(
        TableName=stack.environment["TASKS_TABLE"],
        Key={"task_id": {"S": task_id}},
        UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in values),
        ExpressionAttributeNames={f"#{name}": name for name in values},
        ExpressionAttributeValues={f":{name}": value for name, value in values.items()},
    )


def record_task_token_answers() -> list[tuple[str, Any]]:
    """Every SendTaskSuccess this process sends from now on, as (task token, output).

    Without execution, moto takes any token and does nothing with it, so the call is what a
    test can see. Call it once the stack is up: it hooks the shared client the stack resets.
    """
    answers: list[tuple[str, Any]] = []

    def keep(params: dict[str, Any], **_: Any) -> None:
        answers.append((params["taskToken"], json.loads(params["output"])))

    aws_clients.stepfunctions().meta.events.register(
        "provide-client-params.sfn.SendTaskSuccess", keep
    )
    return answers


def every_stored_text() -> list[tuple[str, str]]:
    """(where, text) for every DynamoDB item, S3 object, SQS message, SSM parameter and
    Step Functions execution input/history in the account: what a canary sweep reads."""
    found: list[tuple[str, str]] = []
    for table, items in all_table_items().items():
        found += [(f"dynamodb:{table}", json.dumps(item)) for item in items]
    s3 = boto3.client("s3")
    for bucket in s3.list_buckets()["Buckets"]:
        for obj in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
            data = s3.get_object(Bucket=bucket["Name"], Key=obj["Key"])["Body"].read()
            found.append((f"s3:{bucket['Name']}/{obj['Key']}", data.decode(errors="replace")))
    sqs = boto3.client("sqs")
    for url in sqs.list_queues().get("QueueUrls", []):
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", [])
        found += [(f"sqs:{url}", m["Body"]) for m in messages]
    ssm = boto3.client("ssm")
    for parameter in ssm.describe_parameters().get("Parameters", []):
        value = ssm.get_parameter(Name=parameter["Name"])["Parameter"]["Value"]
        found.append((f"ssm:{parameter['Name']}", value))
    sfn = boto3.client("stepfunctions")
    for machine in sfn.list_state_machines()["stateMachines"]:
        for execution in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])[
            "executions"
        ]:
            arn = execution["executionArn"]
            found.append((f"sfn:{arn}:input", sfn.describe_execution(executionArn=arn)["input"]))
            history = sfn.get_execution_history(executionArn=arn)["events"]
            found.append((f"sfn:{arn}:history", json.dumps(history, default=str)))
    return found


def first_chunk(task_id: str, owner: str, steps: int, seconds: int) -> Any:
    """The state machine's first RunChunk message for a task, for driving the worker directly
    (its token is not a real one: heartbeats fail and are only logged)."""
    from browser_tasks.models.work import RunChunkMessage

    return RunChunkMessage(
        kind="run_chunk",
        task_id=task_id,
        owner=owner,
        chunk=0,
        attempt=0,
        task_token="not-a-real-token",
        execution_arn="not-a-real-execution",
        steps_done=0,
        elapsed_seconds=0,
        steps_remaining=steps,
        seconds_remaining=seconds,
    )


@contextmanager
def agent_worker_app(monkeypatch: Any) -> Iterator[ModuleType]:
    """The AgentWorker's handler module (functions/agent_worker/app.py), wired to the stack
    this test has up: ``record_handler`` takes a work queue record as Lambda would give it."""
    # browser-use reads these when it is first imported (the image's ENV sets them).
    for name in ("ANONYMIZED_TELEMETRY", "BROWSER_USE_VERSION_CHECK", "BROWSER_USE_CLOUD_SYNC"):
        monkeypatch.setenv(name, "false")
    from worker_wiring import ports

    ports.cache_clear()  # built once per container: build it on this stack's settings
    path = PROJECT_ROOT / "functions" / "agent_worker" / "app.py"
    spec = importlib.util.spec_from_file_location("agent_worker_app", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        yield module
    finally:
        ports.cache_clear()
