"""The chunk's message lease on moto's SQS: a live worker keeps its message hidden; a dead one
(no renewals) has it back after the lease, not after the queue's long visibility timeout."""

import time

import boto3
from moto import mock_aws

from browser_tasks.adapters.sqs_lease import MessageLease


def _visible(sqs: object, url: str) -> list[dict[str, object]]:
    return sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", [])  # type: ignore[attr-defined,no-any-return]


@mock_aws
def test_a_message_comes_back_one_lease_after_its_last_renewal() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "5400"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="chunk")
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    lease = MessageLease(url, message["ReceiptHandle"], seconds=1)

    lease.renew()  # the worker is alive
    assert _visible(sqs, url) == []
    time.sleep(0.6)
    lease.renew()  # still alive: hidden for another second from now
    time.sleep(0.6)
    assert _visible(sqs, url) == []

    time.sleep(0.8)  # no renewal: the worker died

    (again,) = _visible(sqs, url)
    assert again["Body"] == "chunk"
