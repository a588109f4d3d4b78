"""The chunk lease on moto's DynamoDB, and the worker's use of it: a copy of a chunk's message
delivered while another worker runs the chunk (SQS delivers at least once) runs nothing.

Without execution, moto's Step Functions takes any task token: the tests watch the answers the
worker sends. The chunk runner is replaced by one that holds the chunk until told (its real
run, Chromium and all, is in tests/reliability/test_load_and_faults_local.py); everything
around it — the handler, both leases, the queue, the table — is real.
"""

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.dynamodb_items import from_item
from browser_tasks.adapters.dynamodb_tasks import DynamoTaskRepository
from browser_tasks.models.work import ChunkResult, RunChunkMessage
from tests.support import (
    InProcessStack,
    agent_worker_app,
    first_chunk,
    in_process_stack,
    task_item,
)

NOW = 1_800_000_000.0


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessStack]:
    with in_process_stack(monkeypatch) as s:
        yield s


@pytest.fixture
def tasks(stack: InProcessStack) -> DynamoTaskRepository:
    return DynamoTaskRepository(stack.environment["TASKS_TABLE"])


@pytest.fixture
def task_id(stack: InProcessStack) -> str:
    return str(stack.call("POST", "/api/v1/run-task", body={"task": "t"}).json()["id"])


def _lease(task_id: str) -> dict[str, Any] | None:
    lease: dict[str, Any] | None = from_item(task_item(task_id)).get("chunk_lease")
    return lease


# -- the lease on the task's item --------------------------------------------------------------


def test_a_free_chunk_is_leased_and_another_holder_is_refused_while_it_lives(
    tasks: DynamoTaskRepository, task_id: str
) -> None:
    assert tasks.acquire_chunk_lease(task_id, "first", NOW + 30, NOW)

    assert not tasks.acquire_chunk_lease(task_id, "second", NOW + 40, NOW + 10)
    assert tasks.acquire_chunk_lease(task_id, "first", NOW + 40, NOW + 10)  # its own, again
    assert _lease(task_id) == {"holder": "first", "until": NOW + 40}


def test_a_lapsed_lease_goes_to_the_next_holder_and_is_no_longer_the_first_ones(
    tasks: DynamoTaskRepository, task_id: str
) -> None:
    tasks.acquire_chunk_lease(task_id, "first", NOW + 30, NOW)

    assert tasks.acquire_chunk_lease(task_id, "second", NOW + 61, NOW + 31)

    assert not tasks.renew_chunk_lease(task_id, "first", NOW + 70)
    tasks.release_chunk_lease(task_id, "first")  # not its lease: nothing happens
    assert _lease(task_id) == {"holder": "second", "until": NOW + 61}


def test_a_renewed_lease_lives_on_and_a_released_one_is_free_at_once(
    tasks: DynamoTaskRepository, task_id: str
) -> None:
    tasks.acquire_chunk_lease(task_id, "first", NOW + 30, NOW)

    assert tasks.renew_chunk_lease(task_id, "first", NOW + 90)
    assert not tasks.acquire_chunk_lease(task_id, "second", NOW + 120, NOW + 60)

    tasks.release_chunk_lease(task_id, "first")
    assert _lease(task_id) is None
    assert tasks.acquire_chunk_lease(task_id, "second", NOW + 91, NOW + 61)


def test_no_task_item_is_created_for_an_unknown_task(tasks: DynamoTaskRepository) -> None:
    assert not tasks.acquire_chunk_lease("no-such-task", "first", NOW + 30, NOW)
    assert tasks.get("no-such-task") is None


def test_a_leased_task_reads_back_without_its_lease(
    stack: InProcessStack, tasks: DynamoTaskRepository, task_id: str
) -> None:
    tasks.acquire_chunk_lease(task_id, "some-worker", NOW + 30, NOW)

    record = tasks.get(task_id)

    assert record is not None
    assert "chunk_lease" not in record.model_dump()
    for path in (f"/api/v1/task/{task_id}", "/api/v1/tasks", f"/api/v1/task/{task_id}/status"):
        response = stack.call("GET", path)
        assert response.status == 200
        assert "chunk_lease" not in response.text
        assert "some-worker" not in response.text


# -- the worker: one delivery runs the chunk, a copy meanwhile runs nothing ---------------------


class HeldChunks:
    """Stands in for the ChunkRunner: each run renews its delivery's lease (as the heartbeat
    does), then waits until the test lets it end with ``ending``."""

    def __init__(self) -> None:
        self.runs: list[RunChunkMessage] = []
        self.running = threading.Event()
        self.may_end = threading.Event()
        self.ending: ChunkResult | Exception = ChunkResult(
            state="continue", steps=2, elapsed_seconds=3
        )

    def runner(self, *_wiring: Any) -> "HeldChunks":
        return self

    async def run(self, message: RunChunkMessage, lease: Any) -> ChunkResult:
        self.runs.append(message)
        await asyncio.to_thread(lease.renew)
        self.running.set()
        await asyncio.to_thread(self.may_end.wait, 30)
        if isinstance(self.ending, Exception):
            raise self.ending
        return self.ending


@pytest.fixture
def worker(stack: InProcessStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    with agent_worker_app(monkeypatch) as module:
        yield module


@pytest.fixture
def chunks(worker: ModuleType, monkeypatch: pytest.MonkeyPatch) -> HeldChunks:
    held = HeldChunks()
    monkeypatch.setattr(worker, "ChunkRunner", held.runner)
    return held


@pytest.fixture
def answers(stack: InProcessStack) -> list[tuple[str, str]]:
    """Every answer the worker sends a task token from now on: (operation, token)."""
    sent: list[tuple[str, str]] = []
    for operation in ("SendTaskSuccess", "SendTaskFailure"):
        aws_clients.stepfunctions().meta.events.register(
            f"provide-client-params.sfn.{operation}",
            lambda params, operation=operation, **_: sent.append((operation, params["taskToken"])),
        )
    return sent


def _deliveries(stack: InProcessStack, body: str, copies: int) -> list[dict[str, Any]]:
    """``copies`` copies of a message on the work queue, each received once: the records
    Lambda would hand the workers that got them."""
    sqs = boto3.client("sqs")
    url = stack.environment["WORK_QUEUE_URL"]
    for _ in range(copies):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    received: list[dict[str, Any]] = []
    while len(received) < copies:
        received += sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=copies, AttributeNames=["All"]
        ).get("Messages", [])
    return received


def _record(message: dict[str, Any], receive_count: int) -> SQSRecord:
    return SQSRecord(
        {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {"ApproximateReceiveCount": str(receive_count)},
        }
    )


def _visible_on_the_work_queue(stack: InProcessStack) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.environment["WORK_QUEUE_URL"],
        AttributeNames=["ApproximateNumberOfMessages"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_a_copy_delivered_while_the_chunk_runs_is_dropped_without_running_or_counting(
    stack: InProcessStack,
    worker: ModuleType,
    chunks: HeldChunks,
    answers: list[tuple[str, str]],
    task_id: str,
) -> None:
    # Given a chunk's message delivered twice (SQS delivers at least once), the first delivery
    # running the chunk in one worker
    message = first_chunk(task_id, "alice", steps=10, seconds=600)
    first, copy = _deliveries(stack, message.model_dump_json(), copies=2)
    running = threading.Thread(target=worker.record_handler, args=(_record(first, 1),))
    running.start()
    assert chunks.running.wait(10)
    held = _lease(task_id)
    assert held is not None
    assert held["until"] > time.time() + 60  # 15 s short of the 150 s message lease

    # When the copy reaches a second worker — on a receive count past max_chunk_deliveries,
    # which would fail the token as a worker crash if the copy were counted as a delivery
    worker.record_handler(_record(copy, 3))

    # Then the copy ran nothing and answered nothing, and the first still holds the chunk
    assert [m.task_id for m in chunks.runs] == [task_id]
    assert answers == []
    assert _lease(task_id) == held
    # (its message lease was renewed: hidden, not back on the queue)
    assert _visible_on_the_work_queue(stack) == 0

    # And when the first delivery's chunk ends, it answers the token and frees the chunk
    chunks.may_end.set()
    running.join(10)
    assert answers == [("SendTaskSuccess", message.task_token)]
    assert _lease(task_id) is None


@pytest.mark.parametrize("ending", ["paused", "failed", "keeps killing its worker"])
def test_the_chunk_is_freed_however_its_delivery_ends(
    stack: InProcessStack,
    worker: ModuleType,
    chunks: HeldChunks,
    answers: list[tuple[str, str]],
    task_id: str,
    ending: str,
) -> None:
    message = first_chunk(task_id, "alice", steps=10, seconds=600)
    (delivery,) = _deliveries(stack, message.model_dump_json(), copies=1)
    receive_count = 1
    if ending == "paused":
        chunks.ending = ChunkResult(state="paused", steps=1, elapsed_seconds=2)
    elif ending == "failed":
        chunks.ending = worker.ChunkFailed("Chromium went away")
    else:
        receive_count = 3  # past max_chunk_deliveries: failed without running
    chunks.may_end.set()

    worker.record_handler(_record(delivery, receive_count))

    expected = {
        "paused": ("SendTaskSuccess", 1),
        "failed": ("SendTaskFailure", 1),
        "keeps killing its worker": ("SendTaskFailure", 0),
    }[ending]
    assert (answers, len(chunks.runs)) == ([(expected[0], message.task_token)], expected[1])
    assert _lease(task_id) is None
    # a later delivery of the chunk may take it at once
    assert DynamoTaskRepository(stack.environment["TASKS_TABLE"]).acquire_chunk_lease(
        task_id, "next", time.time() + 30, time.time()
    )


def test_a_copy_after_the_chunk_ended_is_not_held_back_by_the_lease(
    stack: InProcessStack,
    worker: ModuleType,
    chunks: HeldChunks,
    answers: list[tuple[str, str]],
    task_id: str,
) -> None:
    # (Step Functions itself refuses the copy's token by then; moto takes any token, so what
    # is left to see here is that the lease, released, does not refuse it)
    message = first_chunk(task_id, "alice", steps=10, seconds=600)
    first, copy = _deliveries(stack, json.dumps(message.model_dump(mode="json")), copies=2)
    chunks.may_end.set()

    worker.record_handler(_record(first, 1))
    worker.record_handler(_record(copy, 1))

    assert len(chunks.runs) == 2
    assert answers == [("SendTaskSuccess", message.task_token)] * 2
