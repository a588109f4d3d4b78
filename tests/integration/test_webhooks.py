"""Webhooks on in-process moto with the real API and notifier handlers: registering one
(``PUT``/``GET``/``DELETE /webhook``, ``POST /webhook/test``), the secret kept only sealed,
the body and signature of each kind of event — checked by a receiver on loopback with its own
implementation of v1's rule — rotation, refusals, and the retry schedule down to the
dead-letter queue. test_webhooks_local.py runs a real task through ``browser-tasks local``.
"""

import contextlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.kms_cipher import KmsSecretsCipher
from browser_tasks.local.lambda_runtime import InProcessFunction
from browser_tasks.services import reset_services
from tests.conftest import BOB_KEY
from tests.fakes.webhook_receiver import WebhookReceiver, v1_signature_is_valid
from tests.support import InProcessStack, every_stored_text, in_process_stack

WEBHOOK_ROUTES = [
    ("PUT", "/api/v1/webhook"),
    ("GET", "/api/v1/webhook"),
    ("DELETE", "/api/v1/webhook"),
    ("POST", "/api/v1/webhook/test"),
]


# -- in-process: the stack, the notifier, the receiver -----------------------------------------


class Notifier:
    """The WebhookQueue's consumer, run by the test one receive at a time."""

    def __init__(self, stack: InProcessStack) -> None:
        self.function = InProcessFunction(stack.functions["NotifierFunction"])
        self.queue_url = stack.resources["WebhookQueue"]
        self.dead_letter_url = stack.resources["WebhookDeadLetterQueue"]
        self.sqs = boto3.client("sqs")
        self.retrying: list[str] = []  # receipt handles of messages hidden until a retry

    def receive(self) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])

    def invoke(self, messages: list[dict[str, Any]]) -> set[str]:
        """One invocation with these messages, settled as the event source would; the ids it
        reported failed."""
        result = self.function.invoke({"Records": [self._record(m) for m in messages]})
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
            else:
                self.retrying.append(message["ReceiptHandle"])
        return failed

    def drain(self) -> set[str]:
        """Deliver everything queued now; the ids that failed."""
        messages = self.receive()
        return self.invoke(messages) if messages else set()

    def empty(self, queue_url: str) -> None:
        """Drop whatever an earlier test left (PurgeQueue may run once a minute only)."""
        while messages := self.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", []):
            for message in messages:
                self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message["Attributes"],
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:WebhookQueue",
            "awsRegion": "us-east-1",
        }


@pytest.fixture(scope="module")
def stack() -> Iterator[InProcessStack]:
    """One stack for the module, with a 1 s retry base for the notifier."""
    with (
        pytest.MonkeyPatch.context() as patch,
        in_process_stack(patch, parameters={"WebhookRetryBaseSeconds": "1"}) as s,
    ):
        yield s


@pytest.fixture(autouse=True)
def _stack_environment(stack: InProcessStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API's and the notifier's settings, as ``browser-tasks local`` runs them (receivers
    on loopback allowed); conftest clears the environment before every test."""
    notifier = stack.functions["NotifierFunction"].environment
    for name, value in {
        **stack.environment,
        "WEBHOOK_QUEUE_URL": notifier["WEBHOOK_QUEUE_URL"],
        "WEBHOOK_RETRY_BASE_SECONDS": notifier["WEBHOOK_RETRY_BASE_SECONDS"],
        "BLOCK_PRIVATE_NETWORKS": "false",
    }.items():
        monkeypatch.setenv(name, value)
    reset_services()


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def notifier(stack: InProcessStack, receiver: WebhookReceiver) -> Iterator[Notifier]:
    """A clean slate: no webhooks, nothing queued, nothing received; and no retry left behind
    to surface in a later test."""
    for key in (None, BOB_KEY):
        kwargs = {} if key is None else {"key": key}
        assert stack.call("DELETE", "/api/v1/webhook", **kwargs).status == 200
    consumer = Notifier(stack)
    for url in (consumer.queue_url, consumer.dead_letter_url):
        consumer.empty(url)
    receiver.clear()
    yield consumer
    for handle in consumer.retrying:
        with contextlib.suppress(ClientError):  # already dead-lettered
            consumer.sqs.delete_message(QueueUrl=consumer.queue_url, ReceiptHandle=handle)


@pytest.fixture
def refusing_private_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in AWS: webhooks may not lead to loopback, link-local or private addresses."""
    monkeypatch.setenv("BLOCK_PRIVATE_NETWORKS", "true")
    reset_services()


def _register(stack: InProcessStack, receiver: WebhookReceiver, key: str | None = None) -> str:
    kwargs = {} if key is None else {"key": key}
    response = stack.call("PUT", "/api/v1/webhook", body={"url": receiver.url()}, **kwargs)
    assert response.status == 200, response.text
    secret = str(response.json()["secret"])
    receiver.secret = secret
    return secret


def _stored_webhook(stack: InProcessStack, owner: str) -> dict[str, Any]:
    item = boto3.client("dynamodb").get_item(
        TableName=stack.environment["OWNERS_TABLE"], Key={"owner": {"S": owner}}
    )
    return dict(item.get("Item", {}))


# -- registration --------------------------------------------------------------------------------


def test_put_answers_the_url_and_a_new_secret_each_time_and_get_answers_only_the_url(
    stack: InProcessStack, notifier: Notifier
) -> None:
    first = stack.call("PUT", "/api/v1/webhook", body={"url": "https://hooks.example.com/a"})
    second = stack.call("PUT", "/api/v1/webhook", body={"url": "https://hooks.example.com/b?x=1"})

    assert (first.status, second.status) == (200, 200)
    assert set(first.json()) == set(second.json()) == {"url", "secret"}
    assert first.json()["url"] == "https://hooks.example.com/a"
    secrets = [first.json()["secret"], second.json()["secret"]]
    assert all(s.startswith("whsec_") and len(s) >= 40 for s in secrets)
    assert secrets[0] != secrets[1]
    shown = stack.call("GET", "/api/v1/webhook")
    assert (shown.status, shown.json()) == (200, {"url": "https://hooks.example.com/b?x=1"})


def test_the_secret_is_stored_only_sealed_for_its_owners_webhook(
    stack: InProcessStack, notifier: Notifier
) -> None:
    secret = stack.call(
        "PUT", "/api/v1/webhook", body={"url": "https://hooks.example.com/a"}
    ).json()["secret"]

    assert [where for where, text in every_stored_text() if secret in text] == []
    sealed = _stored_webhook(stack, "alice")["webhook_secret_ciphertext"]["S"]
    cipher = KmsSecretsCipher(stack.environment["SECRETS_KEY_ARN"])
    assert cipher.decrypt(sealed, {"owner": "alice", "purpose": "webhook"}) == secret
    for wrong_context in (
        {"owner": "bob", "purpose": "webhook"},
        {"task_id": "task_1", "owner": "alice"},  # a task's secrets' context
    ):
        with pytest.raises(Exception, match=r"(?i)context|decrypt|invalid"):
            cipher.decrypt(sealed, wrong_context)


def test_without_a_webhook_get_and_test_are_404_and_delete_is_still_ok(
    stack: InProcessStack, notifier: Notifier
) -> None:
    stack.call("PUT", "/api/v1/webhook", body={"url": "https://hooks.example.com/a"})

    deleted = [stack.call("DELETE", "/api/v1/webhook") for _ in range(2)]

    assert [(d.status, d.json()) for d in deleted] == [(200, {}), (200, {})]
    for method, path in [("GET", "/api/v1/webhook"), ("POST", "/api/v1/webhook/test")]:
        response = stack.call(method, path)
        assert (response.status, response.json()) == (404, {"detail": "Webhook not found"})
    assert "webhook_url" not in _stored_webhook(stack, "alice")
    assert notifier.receive() == []  # no test event was queued


def test_each_owner_sees_and_changes_only_its_own_webhook(
    stack: InProcessStack, notifier: Notifier
) -> None:
    stack.call("PUT", "/api/v1/webhook", body={"url": "https://alice.example.com/hook"})

    assert stack.call("GET", "/api/v1/webhook", key=BOB_KEY).status == 404
    assert stack.call("POST", "/api/v1/webhook/test", key=BOB_KEY).status == 404
    assert stack.call("DELETE", "/api/v1/webhook", key=BOB_KEY).status == 200
    stack.call("PUT", "/api/v1/webhook", body={"url": "https://bob.example.com/h"}, key=BOB_KEY)

    assert stack.call("GET", "/api/v1/webhook").json() == {"url": "https://alice.example.com/hook"}
    assert stack.call("GET", "/api/v1/webhook", key=BOB_KEY).json() == {
        "url": "https://bob.example.com/h"
    }


@pytest.mark.parametrize(("method", "path"), WEBHOOK_ROUTES)
@pytest.mark.parametrize("key", [None, "bt_not_a_key_0123456789abcdef"])
def test_every_webhook_route_needs_a_valid_key(
    stack: InProcessStack, notifier: Notifier, method: str, path: str, key: str | None
) -> None:
    body = {"url": "https://hooks.example.com/a"} if method == "PUT" else None

    response = stack.call(method, path, body=body, key=key)

    assert response.status == 401
    assert isinstance(response.json()["detail"], str)
    assert stack.call("GET", "/api/v1/webhook").status == 404  # nothing was registered
    assert notifier.receive() == []  # nor a test queued


@pytest.mark.parametrize(
    ("body", "loc", "says"),
    [
        ({"url": "ftp://files.example.com/in"}, ["body", "url"], "http:// or https://"),
        ({"url": "javascript:alert(1)"}, ["body", "url"], "http:// or https://"),
        ({"url": "hooks.example.com/a"}, ["body", "url"], "http:// or https://"),
        ({"url": "https://user:pw@hooks.example.com/a"}, ["body", "url"], "credentials"),
        ({"url": "https://token@hooks.example.com/a"}, ["body", "url"], "credentials"),
        ({"url": "https:///no-host"}, ["body", "url"], "host"),
        ({"url": "https://hooks.example.com:99999/"}, ["body", "url"], "port"),
        ({"url": "https://hooks.example.com/a b"}, ["body", "url"], "spaces"),
        ({"url": "https://hooks.example.com/" + "a" * 2030}, ["body", "url"], "2048"),
        ({"url": ""}, ["body", "url"], "at least 1"),
        ({"url": 42}, ["body", "url"], "string"),
        ({}, ["body", "url"], "required"),
        ({"url": "https://hooks.example.com/a", "secret": "mine"}, ["body", "secret"], "not"),
    ],
)
def test_a_bad_url_is_422_in_the_v1_shape_and_changes_nothing(
    stack: InProcessStack, notifier: Notifier, body: dict[str, Any], loc: list[str], says: str
) -> None:
    stack.call("PUT", "/api/v1/webhook", body={"url": "https://hooks.example.com/kept"})
    before = _stored_webhook(stack, "alice")

    response = stack.call("PUT", "/api/v1/webhook", body=body)

    assert response.status == 422
    (problem,) = response.json()["detail"]
    assert set(problem) == {"loc", "msg", "type"}
    assert problem["loc"] == loc
    assert says in problem["msg"]
    assert _stored_webhook(stack, "alice") == before


@pytest.mark.usefixtures("refusing_private_hosts")
@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://127.0.0.1:9001/2018-06-01/runtime/invocation/next", "non-public"),
        ("http://localhost/hook", "non-public"),
        ("http://169.254.169.254/latest/meta-data/", "non-public"),
        ("https://10.0.0.5/hook", "non-public"),
        ("https://192.168.1.20/hook", "non-public"),
        ("http://[::1]:8080/hook", "non-public"),
        ("http://[::ffff:127.0.0.1]/hook", "non-public"),
        ("http://0.0.0.0/hook", "non-public"),
        ("https://no-such-host.invalid/hook", "does not resolve"),
    ],
)
def test_in_aws_a_url_leading_into_the_private_network_is_422(
    stack: InProcessStack, notifier: Notifier, url: str, says: str
) -> None:
    response = stack.call("PUT", "/api/v1/webhook", body={"url": url})

    assert response.status == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "url"]
    assert says in problem["msg"]
    assert stack.call("GET", "/api/v1/webhook").status == 404


@pytest.mark.usefixtures("refusing_private_hosts")
def test_in_aws_a_public_address_is_accepted(stack: InProcessStack, notifier: Notifier) -> None:
    response = stack.call("PUT", "/api/v1/webhook", body={"url": "https://93.184.216.34/hook"})

    assert response.status == 200
    assert stack.call("GET", "/api/v1/webhook").json() == {"url": "https://93.184.216.34/hook"}


# -- the API's own status events ----------------------------------------------------------------


def _queued_status_events(notifier: Notifier) -> list[dict[str, Any]]:
    return [
        json.loads(m["Body"])["detail"]
        for m in notifier.receive()
        if json.loads(m["Body"])["detail-type"] == "TaskStatusChanged"
    ]


def test_a_task_that_cannot_start_is_announced_created_then_failed_with_the_reason(
    stack: InProcessStack, notifier: Notifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:missing"
    )
    reset_services()

    response = stack.call("POST", "/api/v1/run-task", body={"task": "t", "metadata": {"k": "v"}})

    assert response.status == 503
    events = sorted(_queued_status_events(notifier), key=lambda e: e["timestamp"])
    assert [(e["status"], e["metadata"]) for e in events] == [
        ("created", {"k": "v"}),
        ("failed", {"k": "v"}),
    ]
    assert "the workflow could not be started" in events[1]["failure_reason"]


def test_a_task_stopped_before_it_started_is_announced_stopped(
    stack: InProcessStack, notifier: Notifier
) -> None:
    # The in-process stack does not execute: the task stays created until stopped.
    task_id = stack.call("POST", "/api/v1/run-task", body={"task": "t"}).json()["id"]

    assert stack.call("PUT", f"/api/v1/stop-task?task_id={task_id}").status == 200

    events = sorted(_queued_status_events(notifier), key=lambda e: e["timestamp"])
    assert [(e["task_id"], e["status"]) for e in events] == [
        (task_id, "created"),
        (task_id, "stopped"),
    ]


def test_a_status_event_that_cannot_be_sent_does_not_fail_run_task(
    stack: InProcessStack, notifier: Notifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENT_BUS_NAME", "no-such-bus")
    reset_services()

    response = stack.call("POST", "/api/v1/run-task", body={"task": "t"})

    assert response.status == 200
    task_id = response.json()["id"]
    assert stack.call("GET", f"/api/v1/task/{task_id}/status").json() == "created"
    assert _queued_status_events(notifier) == []


# -- delivery ------------------------------------------------------------------------------------


def test_the_test_endpoint_queues_one_signed_test_delivery(
    stack: InProcessStack, notifier: Notifier, receiver: WebhookReceiver
) -> None:
    _register(stack, receiver)

    response = stack.call("POST", "/api/v1/webhook/test")
    failed = notifier.drain()

    assert (response.status, response.json(), failed) == (200, {}, set())
    (delivery,) = receiver.wait_for(1)
    body = delivery.json()
    assert body == {"type": "test", "timestamp": body["timestamp"], "payload": {"test": "ok"}}
    assert abs(datetime.fromisoformat(body["timestamp"]) - datetime.now(UTC)).total_seconds() < 30
    assert delivery.signature_valid
    assert delivery.path == "/hooks/browser-tasks"
    assert delivery.headers["content-type"] == "application/json"
    assert abs(int(delivery.headers["x-browser-use-timestamp"]) - time.time()) < 30
    timestamp, signature = (
        delivery.headers["x-browser-use-timestamp"],
        delivery.headers["x-browser-use-signature"],
    )
    assert not v1_signature_is_valid(delivery.body, timestamp, signature, "whsec_not_the_secret")
    assert not v1_signature_is_valid(
        delivery.body, str(int(timestamp) + 1), signature, receiver.secret
    )


def test_a_status_change_is_delivered_in_the_v1_shape_with_the_tasks_metadata(
    stack: InProcessStack, notifier: Notifier, receiver: WebhookReceiver
) -> None:
    _register(stack, receiver)
    metadata = {"order": "42", "customer": "ACME"}
    task_id = stack.call(
        "POST", "/api/v1/run-task", body={"task": "Find the price", "metadata": metadata}
    ).json()["id"]

    assert notifier.drain() == set()

    (delivery,) = receiver.wait_for(1)
    assert delivery.signature_valid
    body = delivery.json()
    created_at = boto3.client("dynamodb").get_item(
        TableName=stack.environment["TASKS_TABLE"], Key={"task_id": {"S": task_id}}
    )["Item"]["created_at"]["S"]
    assert datetime.fromisoformat(body.pop("timestamp")) == datetime.fromisoformat(created_at)
    assert body == {
        "type": "agent.task.status_update",
        "payload": {"task_id": task_id, "status": "created", "metadata": metadata},
    }
    assert "Find the price" not in delivery.body.decode()  # the task text is not sent


def test_a_new_secret_signs_the_next_delivery_and_the_old_one_no_longer_verifies(
    stack: InProcessStack, notifier: Notifier, receiver: WebhookReceiver
) -> None:
    old_secret = _register(stack, receiver)
    new_secret = _register(stack, receiver)

    stack.call("POST", "/api/v1/webhook/test")
    notifier.drain()

    (delivery,) = receiver.wait_for(1)
    timestamp = delivery.headers["x-browser-use-timestamp"]
    signature = delivery.headers["x-browser-use-signature"]
    assert v1_signature_is_valid(delivery.body, timestamp, signature, new_secret)
    assert not v1_signature_is_valid(delivery.body, timestamp, signature, old_secret)


def test_events_of_an_owner_without_a_webhook_are_dropped(
    stack: InProcessStack, notifier: Notifier, receiver: WebhookReceiver
) -> None:
    _register(stack, receiver)  # alice's; bob has none
    stack.call("POST", "/api/v1/run-task", body={"task": "t"}, key=BOB_KEY)
    stack.call("POST", "/api/v1/webhook/test")
    stack.call("DELETE", "/api/v1/webhook")  # ...and alice's is gone before delivery

    assert notifier.drain() == set()
    assert notifier.receive() == []
    time.sleep(0.2)
    assert receiver.deliveries == []


def test_a_failing_endpoint_is_retried_later_each_time_then_dead_lettered_after_five_tries(
    stack: InProcessStack, notifier: Notifier, receiver: WebhookReceiver
) -> None:
    _register(stack, receiver)
    receiver.answer_next(*[500] * 10)
    delays: list[int] = []
    aws_clients.sqs().meta.events.register(
        "provide-client-params.sqs.ChangeMessageVisibility",
        lambda params, **_: delays.append(params["VisibilityTimeout"]),
    )
    stack.call("POST", "/api/v1/webhook/test")

    for attempt in range(1, 5):
        (message,) = notifier.receive()
        assert message["Attributes"]["ApproximateReceiveCount"] == str(attempt)
        assert notifier.invoke([message]) == {message["MessageId"]}
        assert notifier.receive() == []  # hidden until its retry is due...
        notifier.sqs.change_message_visibility(  # ...which the test does not wait for
            QueueUrl=notifier.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    (last,) = notifier.receive()
    assert notifier.invoke([last]) == {last["MessageId"]}

    assert delays == [2, 4, 8, 16, 0]  # base 1 s x 2^attempt; the fifth: at once, to the DLQ
    assert [d.answered for d in receiver.deliveries] == [500] * 5
    assert notifier.receive() == []  # its sixth receive moved it to the dead-letter queue
    (dead,) = notifier.sqs.receive_message(QueueUrl=notifier.dead_letter_url).get("Messages", [])
    assert json.loads(dead["Body"])["detail-type"] == "WebhookTest"


@pytest.mark.parametrize("answer", [302, 404, 503])
def test_an_answer_other_than_2xx_is_not_a_delivery(
    stack: InProcessStack, notifier: Notifier, receiver: WebhookReceiver, answer: int
) -> None:
    _register(stack, receiver)
    receiver.answer_next(answer)
    stack.call("POST", "/api/v1/webhook/test")

    failed = notifier.drain()

    assert len(failed) == 1
    assert [d.answered for d in receiver.wait_for(1)] == [answer]


def test_in_aws_a_webhook_whose_host_now_leads_inside_is_not_called(
    stack: InProcessStack,
    notifier: Notifier,
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Registered while loopback was allowed: as if its name had been re-pointed since.
    _register(stack, receiver)
    stack.call("POST", "/api/v1/webhook/test")
    monkeypatch.setenv("BLOCK_PRIVATE_NETWORKS", "true")
    reset_services()

    failed = notifier.drain()

    assert len(failed) == 1
    time.sleep(0.2)
    assert receiver.deliveries == []
