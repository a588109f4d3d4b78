"""The local event source mapping: a queue feeds a function running in its own process.

Given a template with a queue and a consumer whose code records what it sees, when messages
arrive, then they are handed over in batches, deleted when handled, kept and redelivered when
the function reports them failed, raises, or its process is killed.
"""

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from browser_tasks.local.lambda_runtime import ContainerFunction
from browser_tasks.local.provision import Provisioner
from browser_tasks.local.queue_pollers import QueuePoller
from browser_tasks.local.template import load_template
from browser_tasks.services import reset_services
from tests.local_stack_process import free_port

TEMPLATE = """
Resources:
  Inbox:
    Type: AWS::SQS::Queue
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: consumer/
      Handler: app.lambda_handler
      Timeout: 20
      Environment:
        Variables:
          SEEN_FILE: SEEN_FILE_PLACEHOLDER
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Inbox.Arn
            BatchSize: 1
            FunctionResponseTypes: [ReportBatchItemFailures]
"""

# Each message body says what to do: "ok", "fail" (report failure), "raise", "die" (the
# process exits at once, as a kill -9 would look). Attempts are counted in a file.
CONSUMER = """
import json, os

def lambda_handler(event, context):
    failures = []
    for record in event["Records"]:
        body = json.loads(record["body"])
        with open(os.environ["SEEN_FILE"], "a") as seen:
            seen.write(json.dumps({"id": body["id"], "pid": os.getpid()}) + "\\n")
        attempts = sum(1 for line in open(os.environ["SEEN_FILE"]) if json.loads(line)["id"] == body["id"])
        if attempts == 1 and body["action"] == "fail":
            failures.append({"itemIdentifier": record["messageId"]})
        if attempts == 1 and body["action"] == "raise":
            raise RuntimeError("boom")
        if attempts == 1 and body["action"] == "die":
            os._exit(137)
    return {"batchItemFailures": failures}
"""


@pytest.fixture
def poller_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path, ContainerFunction]]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    reset_services()
    seen = tmp_path / "seen.jsonl"
    seen.touch()
    (tmp_path / "template.yaml").write_text(TEMPLATE.replace("SEEN_FILE_PLACEHOLDER", str(seen)))
    (tmp_path / "consumer").mkdir()
    (tmp_path / "consumer" / "app.py").write_text(CONSUMER)
    provisioner = Provisioner(load_template(tmp_path / "template.yaml"), tmp_path, "t", "us-east-1")
    refs = provisioner.provision_all()
    spec = provisioner.functions["Consumer"]
    container = ContainerFunction(
        spec, {**spec.environment, "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"]}
    )
    poller = QueuePoller(
        "Consumer", spec.queue_sources[0], container, "us-east-1", retry_delay_seconds=1
    )
    poller.start()
    try:
        yield refs["Inbox"], seen, container
    finally:
        poller.stop()
        container.stop()
        server.stop()
        reset_services()


def _attempts(seen: Path) -> dict[str, list[int]]:
    result: dict[str, list[int]] = {}
    for line in seen.read_text().splitlines():
        entry = json.loads(line)
        result.setdefault(entry["id"], []).append(entry["pid"])
    return result


def _wait_until_empty(queue_url: str, seen: Path, expected_ids: int) -> None:
    sqs = boto3.client("sqs")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])[
            "Attributes"
        ]
        pending = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
        if pending == 0 and len(_attempts(seen)) == expected_ids:
            return
        time.sleep(0.2)
    raise AssertionError(f"queue not drained: {attributes}, seen {_attempts(seen)}")


def test_messages_are_delivered_and_failures_redelivered(
    poller_setup: tuple[str, Path, ContainerFunction],
) -> None:
    queue_url, seen, _container = poller_setup
    sqs = boto3.client("sqs")
    for number, action in enumerate(["ok", "fail", "raise", "ok"]):
        sqs.send_message(
            QueueUrl=queue_url, MessageBody=json.dumps({"id": f"m{number}", "action": action})
        )

    _wait_until_empty(queue_url, seen, expected_ids=4)

    attempts = _attempts(seen)
    assert {k: len(v) for k, v in attempts.items()} == {"m0": 1, "m1": 2, "m2": 2, "m3": 1}
    # One warm container served every invocation.
    assert len({pid for pids in attempts.values() for pid in pids}) == 1


def test_a_killed_function_process_is_replaced_and_its_message_redelivered(
    poller_setup: tuple[str, Path, ContainerFunction],
) -> None:
    queue_url, seen, _ = poller_setup
    boto3.client("sqs").send_message(
        QueueUrl=queue_url, MessageBody=json.dumps({"id": "d", "action": "die"})
    )

    _wait_until_empty(queue_url, seen, expected_ids=1)

    (pids,) = _attempts(seen).values()
    assert len(pids) == 2
    assert pids[0] != pids[1]
