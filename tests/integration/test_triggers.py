"""The trigger function on in-process moto: S3 task specs and RunTask events start tasks
through the same create call as run-task, once each; what cannot start one is answered (an
error object, a RunTaskRejected event) and starts nothing; an S3-started task's result is
written beside its spec when it ends.

Specs are put in the real bucket: moto's S3 → EventBridge → TaskSpecCreatedRule delivers the
notification to TriggerQueue, and the test hands what is queued to the real handler, as the
event source mapping would. test_triggers_local.py runs the same on ``browser-tasks local``
with a real agent.
"""

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from browser_tasks.adapters.dynamodb_items import from_item
from browser_tasks.errors import ServiceUnavailable
from browser_tasks.local.lambda_runtime import InProcessFunction
from browser_tasks.services import metering, reset_services, task_service, trigger_service
from tests.conftest import BOB_KEY
from tests.support import (
    InProcessStack,
    every_stored_text,
    in_process_stack,
    set_task_fields,
    tasks_in_table,
)

CANARY = "canary-secret-4b1d-9e7a"
SPEC = {
    "task": "Open https://example.com and read the title",
    "max_agent_steps": 3,
    "metadata": {"ticket": "T-7"},
    "secrets": {"password": CANARY},
}
BILLING_ON = {"BillingEnabled": "true"}


class Triggers:
    """The TriggerQueue's consumer, run by the test one receive at a time."""

    def __init__(self, stack: InProcessStack, monkeypatch: pytest.MonkeyPatch) -> None:
        spec = stack.functions["TriggerFunction"]
        for name, value in spec.environment.items():  # its bucket, its state machine
            monkeypatch.setenv(name, value)
        reset_services()
        self.function = InProcessFunction(spec)
        self.stack = stack
        self.queue_url = stack.resources["TriggerQueue"]
        self.bucket = stack.resources["TaskSpecsBucket"]
        self.bus = stack.environment["EVENT_BUS_NAME"]
        self.s3 = boto3.client("s3")
        self.sqs = boto3.client("sqs")

    # -- the queue ------------------------------------------------------------------------

    def queued(self) -> list[dict[str, Any]]:
        """Every message on the queue now (left there, hidden for a while)."""
        found: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30
        ).get("Messages", []):
            found += batch
        return found

    def drain(self) -> list[str]:
        """Hand everything queued to the function, settled as the event source would (what
        it did not report failed is deleted); the bodies it handled."""
        messages = self.queued()
        if not messages:
            return []
        failed = self.invoke([m["Body"] for m in messages], [m["MessageId"] for m in messages])
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        assert not failed, f"records reported failed: {failed}"
        return [m["Body"] for m in messages]

    def invoke(self, bodies: list[str], ids: list[str] | None = None) -> set[str]:
        """One invocation with these bodies; the message ids it reported failed."""
        ids = ids or [f"m{i}" for i in range(len(bodies))]
        records = [
            {
                "messageId": message_id,
                "receiptHandle": f"r-{message_id}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:TriggerQueue",
                "awsRegion": "us-east-1",
            }
            for message_id, body in zip(ids, bodies, strict=True)
        ]
        result = self.function.invoke({"Records": records})
        return {f["itemIdentifier"] for f in result["batchItemFailures"]}

    # -- the bucket -----------------------------------------------------------------------

    def put_spec(self, key: str, spec: Any, *, tags: str | None = None) -> list[str]:
        """Drop a spec (a dict as JSON, or raw bytes) and deliver its notification; the
        bodies delivered."""
        body = spec if isinstance(spec, bytes) else json.dumps(spec).encode()
        extra = {"Tagging": tags} if tags else {}
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)
        return self.drain()

    def result(self, key: str) -> Any:
        """A results/ object as JSON, or None if there is none."""
        try:
            data = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return json.loads(data)

    def results(self) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="results/")
        return sorted(o["Key"] for o in listing.get("Contents", []))

    # -- the bus --------------------------------------------------------------------------

    def put_run_task(self, detail: Any) -> str:
        """Put a RunTask event on the stack's bus as a caller would; its event id."""
        response = boto3.client("events").put_events(
            Entries=[
                {
                    "EventBusName": self.bus,
                    "Source": "acme.orders",
                    "DetailType": "RunTask",
                    "Detail": json.dumps(detail),
                }
            ]
        )
        return str(response["Entries"][0]["EventId"])

    def watch_bus(self) -> str:
        """A queue that receives every event with source browser-tasks on the stack's bus."""
        url = self.sqs.create_queue(QueueName="bus-watch")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events = boto3.client("events")
        events.put_rule(
            Name="bus-watch",
            EventBusName=self.bus,
            EventPattern=json.dumps({"source": ["browser-tasks"]}),
        )
        events.put_targets(
            Rule="bus-watch", EventBusName=self.bus, Targets=[{"Id": "q", "Arn": arn}]
        )
        return url

    def events_on(self, url: str, detail_type: str) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        bodies = [json.loads(m["Body"]) for m in messages]
        return [b for b in bodies if b["detail-type"] == detail_type]


@pytest.fixture
def triggers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Triggers]:
    with in_process_stack(monkeypatch) as stack:
        yield Triggers(stack, monkeypatch)


def _claims() -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    (table,) = [t for t in client.list_tables()["TableNames"] if "TriggerClaimsTable" in t]
    return [from_item(i) for i in client.scan(TableName=table)["Items"]]


def _executions(stack: InProcessStack) -> list[str]:
    arn = stack.resources["TaskStateMachine"]
    listed = boto3.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"]
    return [e["name"] for e in listed]


def _assert_canary_only_in_specs() -> None:
    """The secret is in the spec the caller wrote, and in nothing the stack stored."""
    found = [where for where, text in every_stored_text() if CANARY in text]
    assert all("/incoming/" in where for where in found), found


def _assert_v1_detail(document: Any) -> list[dict[str, Any]]:
    assert set(document) == {"detail"}
    detail = document["detail"]
    assert isinstance(detail, list)
    assert detail
    for entry in detail:
        assert set(entry) == {"loc", "msg", "type"}
    return list(detail)


# -- S3 specs: who the owner is -----------------------------------------------------------------


def test_a_spec_under_an_owners_prefix_starts_one_task_of_that_owner(triggers: Triggers) -> None:
    triggers.put_spec("incoming/alice/job-1.json", SPEC)

    (task,) = [from_item(t) for t in tasks_in_table()]
    assert task["owner"] == "alice"
    assert task["status"] == "created"
    assert task["metadata"] == {"ticket": "T-7"}
    assert task["origin"] == {"kind": "s3", "ref": f"{triggers.bucket}/incoming/alice/job-1.json"}
    assert _executions(triggers.stack) == [task["task_id"]]
    # The claim holds the task's id and expires (TTL) in about 30 days.
    (claim,) = _claims()
    assert claim["task_id"] == task["task_id"]
    assert claim["claim_key"].startswith(f"s3:{triggers.bucket}/incoming/alice/job-1.json#")
    days = (claim["expires_at"] - datetime.now(UTC).timestamp()) / 86_400
    assert 29.9 < days < 30.1
    # Alice sees it through the API like any task of hers; Bob does not.
    status_path = f"/api/v1/task/{task['task_id']}/status"
    assert triggers.stack.call("GET", status_path).json() == "created"
    assert triggers.stack.call("GET", status_path, key=BOB_KEY).status == 404
    assert triggers.results() == []
    _assert_canary_only_in_specs()


def test_a_folder_made_in_the_console_is_not_a_spec(triggers: Triggers) -> None:
    triggers.put_spec("incoming/alice/", b"")

    assert tasks_in_table() == []
    assert triggers.results() == []


def test_a_spec_without_a_prefix_takes_its_owner_from_its_tag(triggers: Triggers) -> None:
    triggers.put_spec("incoming/job-2.json", SPEC, tags="owner=bob&team=ops")

    (task,) = [from_item(t) for t in tasks_in_table()]
    assert task["owner"] == "bob"


def test_the_key_prefix_wins_over_a_tag(triggers: Triggers) -> None:
    # Write access is granted per prefix: a tag must not take a spec into another owner's name.
    triggers.put_spec("incoming/alice/job-3.json", SPEC, tags="owner=bob")

    (task,) = [from_item(t) for t in tasks_in_table()]
    assert task["owner"] == "alice"


@pytest.mark.parametrize(
    ("key", "spec", "tags", "loc", "error_key"),
    [
        # An owner in the body alone is never trusted.
        ("incoming/job.json", {**SPEC, "owner": "alice"}, None, ["body", "owner"], "job"),
        ("incoming/alice/job.json", {**SPEC, "owner": "bob"}, None, ["body", "owner"], "alice/job"),
        ("incoming/job.json", SPEC, "owner=bad%20owner", ["body", "owner"], "job"),
        ("incoming/alice/job.json", {"max_agent_steps": 0}, None, ["body", "task"], "alice/job"),
        ("incoming/alice/job.json", [SPEC], None, ["body"], "alice/job"),
        (
            "incoming/alice/job.json",
            {**SPEC, "colour": "vermilion-7"},
            None,
            ["body", "colour"],
            "alice/job",
        ),
    ],
)
def test_a_spec_that_cannot_start_a_task_gets_an_error_object_in_v1_shape(
    triggers: Triggers,
    key: str,
    spec: Any,
    tags: str | None,
    loc: list[str],
    error_key: str,
) -> None:
    triggers.put_spec(key, spec, tags=tags)

    detail = _assert_v1_detail(triggers.result(f"results/{error_key}.error.json"))
    assert loc in [entry["loc"] for entry in detail]
    assert tasks_in_table() == []
    assert _executions(triggers.stack) == []
    # Nothing of the input is echoed: not the secret, not the rejected values.
    text = json.dumps(detail)
    assert CANARY not in text
    assert "bad owner" not in text
    assert "vermilion-7" not in text


def test_an_invalid_spec_lists_every_problem_and_never_echoes_a_secret(triggers: Triggers) -> None:
    spec = {"task": " ", "max_agent_steps": 500, "secrets": {"bad name!": CANARY}}

    triggers.put_spec("incoming/alice/bad.json", spec)

    detail = _assert_v1_detail(triggers.result("results/alice/bad.error.json"))
    locs = [entry["loc"] for entry in detail]
    assert ["body", "task"] in locs
    assert ["body", "max_agent_steps"] in locs
    assert ["body", "secrets"] in locs
    assert CANARY not in json.dumps(detail)
    _assert_canary_only_in_specs()


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b'{"task": "unterminated', "json_invalid"),
        (b"\xff\xfe not text", "json_invalid"),
        (b"", "json_invalid"),
        (b'{"task": "' + b"x" * (256 * 1024) + b'"}', "too_long"),
    ],
)
def test_unreadable_or_oversized_specs_get_an_error_object(
    triggers: Triggers, body: bytes, kind: str
) -> None:
    triggers.put_spec("incoming/alice/raw.json", body)

    (entry,) = _assert_v1_detail(triggers.result("results/alice/raw.error.json"))
    assert entry["loc"] == ["body"]
    assert entry["type"] == kind
    assert tasks_in_table() == []


def test_a_spec_naming_an_upload_that_does_not_exist_gets_an_error_object(
    triggers: Triggers,
) -> None:
    triggers.put_spec("incoming/alice/files.json", {**SPEC, "included_file_names": ["in.csv"]})

    (entry,) = _assert_v1_detail(triggers.result("results/alice/files.error.json"))
    assert entry["loc"] == ["body", "included_file_names", 0]
    assert "was not uploaded" in entry["msg"]
    assert tasks_in_table() == []


def test_a_spec_the_balance_cannot_pay_for_gets_an_error_object_and_is_not_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with in_process_stack(monkeypatch, parameters=BILLING_ON) as stack:
        triggers = Triggers(stack, monkeypatch)
        triggers.put_spec("incoming/alice/poor.json", SPEC)

        error = triggers.result("results/alice/poor.error.json")
        assert isinstance(error["detail"], str)  # v1's shape for anything but a 422
        assert error["detail"].startswith("Insufficient balance")
        assert tasks_in_table() == []
        # A redelivery finds the refusal recorded: no second error, no task later.
        (claim,) = _claims()
        assert claim["rejected"] is True


# -- S3 specs: once per version -----------------------------------------------------------------


def test_a_redelivered_notification_starts_nothing_more(triggers: Triggers) -> None:
    (notification,) = triggers.put_spec("incoming/alice/once.json", SPEC)

    assert triggers.invoke([notification, notification]) == set()
    triggers.invoke([notification])

    assert len(tasks_in_table()) == 1
    assert len(_executions(triggers.stack)) == 1


def test_rewriting_a_spec_is_a_new_version_and_starts_a_new_task(triggers: Triggers) -> None:
    triggers.put_spec("incoming/alice/again.json", SPEC)
    triggers.put_spec("incoming/alice/again.json", {**SPEC, "metadata": {"ticket": "T-8"}})

    tickets = sorted(from_item(t)["metadata"]["ticket"] for t in tasks_in_table())
    assert tickets == ["T-7", "T-8"]
    assert len(_claims()) == 2


def test_a_crash_between_claim_and_create_is_finished_by_the_redelivery(
    triggers: Triggers,
) -> None:
    # Given a first delivery that claimed the spec and died before the task was stored
    triggers.s3.put_object(
        Bucket=triggers.bucket, Key="incoming/alice/crash.json", Body=json.dumps(SPEC).encode()
    )
    (message,) = triggers.queued()
    real_create = task_service().tasks.create
    calls = 0

    def dies_once(record: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the function's process died here")
        real_create(record)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(task_service().tasks, "create", dies_once)
        assert triggers.invoke([message["Body"]]) == {"m0"}  # reported failed: retried
        (claim,) = _claims()
        assert tasks_in_table() == []

        # When SQS delivers it again
        assert triggers.invoke([message["Body"]]) == set()

    # Then the task is created, under the id that was claimed, once
    (task,) = [from_item(t) for t in tasks_in_table()]
    assert task["task_id"] == claim["task_id"]
    assert _executions(triggers.stack) == [claim["task_id"]]


def test_two_deliveries_at_once_start_one_task_and_charge_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with in_process_stack(monkeypatch, parameters=BILLING_ON) as stack:
        triggers = Triggers(stack, monkeypatch)
        metering().balances.credit("alice", 100)
        triggers.s3.put_object(
            Bucket=triggers.bucket, Key="incoming/alice/race.json", Body=json.dumps(SPEC).encode()
        )
        (message,) = triggers.queued()
        # The first delivery claims, is charged, and is held just before it stores the task,
        # while the second finds the claim, no task yet, and creates it.
        tasks = task_service().tasks
        real_create = tasks.create
        first_about_to_store, second_done = threading.Event(), threading.Event()
        outcomes: list[set[str]] = []

        def create(record: Any) -> None:
            if threading.current_thread().name == "first":
                first_about_to_store.set()
                second_done.wait(10)
            real_create(record)

        monkeypatch.setattr(tasks, "create", create)
        first = threading.Thread(
            target=lambda: outcomes.append(triggers.invoke([message["Body"]])), name="first"
        )
        first.start()
        assert first_about_to_store.wait(10)
        # A function instance handles one invocation at a time: the second delivery is
        # another instance on the same queue.
        second = InProcessFunction(stack.functions["TriggerFunction"])
        record = {
            "messageId": "m1",
            "receiptHandle": "r",
            "body": message["Body"],
            "attributes": {"ApproximateReceiveCount": "2"},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:TriggerQueue",
            "awsRegion": "us-east-1",
        }
        outcomes.append(
            {f["itemIdentifier"] for f in second.invoke({"Records": [record]})["batchItemFailures"]}
        )
        second_done.set()
        first.join(20)

        assert outcomes == [set(), set()]  # neither is an error to retry
        (task,) = [from_item(t) for t in tasks_in_table()]
        assert _executions(stack) == [task["task_id"]]
        # One start fee (1 cent at v1 prices) was taken; the loser's was given back.
        assert stack.call("GET", "/api/v1/balance").json() == {"balance": "99"}
        assert task["cost_cents"] == 1


# -- results ------------------------------------------------------------------------------------


def test_an_s3_started_task_that_ends_gets_its_result_beside_its_spec(triggers: Triggers) -> None:
    triggers.put_spec("incoming/alice/report.json", SPEC)
    (task,) = [from_item(t) for t in tasks_in_table()]
    task_id = task["task_id"]
    # Given the task ran and finished (as the worker and the state machine record it)
    set_task_fields(
        triggers.stack,
        task_id,
        status="finished",
        output='{"title": "Example Domain"}',
        structured_output='{"title": "Example Domain"}',
        finished_at="2026-11-30T08:00:00.000000Z",
    )
    boto3.client("dynamodb").update_item(
        TableName=triggers.stack.environment["TASKS_TABLE"],
        Key={"task_id": {"S": task_id}},
        UpdateExpression="SET steps_count = :n",
        ExpressionAttributeValues={":n": {"N": "2"}},
    )
    _announce_end(triggers, task_id, "alice", "finished")

    triggers.drain()

    result = triggers.result("results/alice/report.json")
    api_view = triggers.stack.call("GET", f"/api/v1/task/{task_id}").json()
    assert result["id"] == task_id
    assert result["status"] == "finished"
    assert result["structured_output"] == {"title": "Example Domain"}
    assert result["steps_count"] == 2
    assert result["failure_reason"] is None
    # The API's view, minus what only its owner's key may reach: the live and share links.
    assert result["live_url"] is None
    assert result["public_share_url"] is None
    assert {k: v for k, v in api_view.items() if k not in ("live_url", "public_share_url")} == {
        k: v for k, v in result.items() if k not in ("live_url", "public_share_url")
    }
    text = json.dumps(result)
    assert CANARY not in text
    assert task["live_token"] not in text


def test_a_failed_s3_task_gets_a_result_with_its_reason(triggers: Triggers) -> None:
    triggers.put_spec("incoming/alice/fails.json", SPEC)
    (task,) = [from_item(t) for t in tasks_in_table()]
    set_task_fields(
        triggers.stack, task["task_id"], status="failed", failure_reason="maximum steps reached"
    )
    _announce_end(triggers, task["task_id"], "alice", "failed")

    triggers.drain()

    result = triggers.result("results/alice/fails.json")
    assert result["status"] == "failed"
    assert result["failure_reason"] == "maximum steps reached"


def test_tasks_not_started_from_s3_get_no_result(triggers: Triggers) -> None:
    response = triggers.stack.call("POST", "/api/v1/run-task", body={"task": "From the API"})
    task_id = response.json()["id"]
    set_task_fields(triggers.stack, task_id, status="finished")
    _announce_end(triggers, task_id, "alice", "finished")
    # ...nor does a status that is not an ending (the rule lets only endings through).
    _announce_end(triggers, task_id, "alice", "running")

    assert len(triggers.drain()) == 1
    assert triggers.results() == []


def _announce_end(triggers: Triggers, task_id: str, owner: str, status: str) -> None:
    """TaskStatusChanged on the stack's bus, as the state machine emits it."""
    detail = {"task_id": task_id, "owner": owner, "status": status, "metadata": {}}
    boto3.client("events").put_events(
        Entries=[
            {
                "EventBusName": triggers.bus,
                "Source": "browser-tasks",
                "DetailType": "TaskStatusChanged",
                "Detail": json.dumps({**detail, "timestamp": "2026-11-30T08:00:00Z"}),
            }
        ]
    )


# -- RunTask events -----------------------------------------------------------------------------


def test_a_run_task_event_starts_a_task_once_per_event_id(triggers: Triggers) -> None:
    event_id = triggers.put_run_task({**SPEC, "owner": "bob"})
    (notification,) = triggers.drain()

    triggers.invoke([notification])  # the same event delivered again

    (task,) = [from_item(t) for t in tasks_in_table()]
    assert task["owner"] == "bob"
    assert task["origin"] == {"kind": "event", "ref": event_id}
    assert [c["claim_key"] for c in _claims()] == [f"event:{event_id}"]
    assert _executions(triggers.stack) == [task["task_id"]]
    assert (
        triggers.stack.call("GET", f"/api/v1/task/{task['task_id']}").status == 404
    )  # alice's key


@pytest.mark.parametrize(
    ("detail", "owner", "locs"),
    [
        (SPEC, None, [["detail", "owner"]]),
        ({**SPEC, "owner": "bob", "max_agent_steps": -1}, "bob", [["detail", "max_agent_steps"]]),
        ({"owner": "no spaces allowed"}, None, [["detail", "owner"], ["detail", "task"]]),
    ],
)
def test_an_invalid_run_task_event_starts_nothing_and_is_answered_on_the_bus(
    triggers: Triggers, detail: dict[str, Any], owner: str | None, locs: list[list[str]]
) -> None:
    watch = triggers.watch_bus()
    event_id = triggers.put_run_task(detail)

    triggers.drain()

    assert tasks_in_table() == []
    (rejected,) = triggers.events_on(watch, "RunTaskRejected")
    assert rejected["source"] == "browser-tasks"
    assert rejected["detail"]["event_id"] == event_id
    assert rejected["detail"].get("owner") == owner
    assert [entry["loc"] for entry in rejected["detail"]["detail"]] == locs
    assert CANARY not in json.dumps(rejected)
    assert "no spaces allowed" not in json.dumps(rejected)


# -- the queue ----------------------------------------------------------------------------------


def test_a_message_of_no_known_shape_is_dropped_not_retried(triggers: Triggers) -> None:
    bodies = ["not json", json.dumps({"detail-type": "Something Else"}), json.dumps([1, 2])]

    assert triggers.invoke(bodies) == set()
    assert tasks_in_table() == []


def test_an_aws_failure_reports_only_that_record_for_a_retry(triggers: Triggers) -> None:
    triggers.s3.put_object(
        Bucket=triggers.bucket, Key="incoming/alice/retry.json", Body=json.dumps(SPEC).encode()
    )
    (message,) = triggers.queued()
    event_id = triggers.put_run_task({**SPEC, "owner": "bob"})
    run_task = next(m["Body"] for m in triggers.queued() if event_id in m["Body"])
    # The claims table is unavailable for the S3 spec's claim only.
    claims = trigger_service().claims
    real_claim = claims.claim

    def flaky(claim_key: str, *args: Any) -> Any:
        if claim_key.startswith("s3:"):
            raise ServiceUnavailable("Claiming the trigger failed (ProvisionedThroughputExceeded)")
        return real_claim(claim_key, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(claims, "claim", flaky)
        assert triggers.invoke([message["Body"], run_task], ["spec", "event"]) == {"spec"}

    (task,) = [from_item(t) for t in tasks_in_table()]
    assert task["origin"]["kind"] == "event"
    assert triggers.invoke([message["Body"]]) == set()  # the retry
    assert len(tasks_in_table()) == 2
