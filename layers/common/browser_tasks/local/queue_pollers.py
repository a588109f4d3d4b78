"""SQS event source mappings: poll a queue, invoke the function with a batch, settle it.

As in Lambda: messages the function reports in ``batchItemFailures`` (or all of them, if the
invocation fails) stay on the queue and come back; the rest are deleted. One deviation: a
failed batch is made visible again after ``retry_delay_seconds`` instead of the queue's full
visibility timeout (90 minutes for the work queue), so local retries happen while you watch —
except the records a function that spaces its own retries (``function_delays_retries``: it
sets each failed message's visibility itself) reports failed, whose delay is left as it set it.
"""

import logging
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from browser_tasks.adapters import aws_clients
from browser_tasks.local.provision import QueueSource

logger = logging.getLogger(__name__)


class Invocable(Protocol):
    def invoke(self, event: dict[str, Any]) -> Any: ...


class QueuePoller:
    def __init__(
        self,
        name: str,
        source: QueueSource,
        function: Invocable,
        region: str,
        retry_delay_seconds: int = 2,
        function_delays_retries: bool = False,
    ) -> None:
        self._name = name
        self._source = source
        self._function = function
        self._region = region
        self._retry_delay = retry_delay_seconds
        self._function_delays_retries = function_delays_retries
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"poller-{name}", daemon=True)
        self._queue_arn = ""

    def start(self) -> None:
        self._queue_arn = aws_clients.sqs().get_queue_attributes(
            QueueUrl=self._source.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._poll_once()
            except Exception:  # keep polling, as the managed poller would
                logger.exception("%s: polling failed", self._name)
                self._stopping.wait(1)

    def _poll_once(self) -> None:
        messages = (
            aws_clients.sqs()
            .receive_message(
                QueueUrl=self._source.queue_url,
                MaxNumberOfMessages=min(self._source.batch_size, 10),
                WaitTimeSeconds=1,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            .get("Messages", [])
        )
        if not messages:
            return
        try:
            result = self._function.invoke({"Records": [self._record(m) for m in messages]})
        except Exception as error:
            logger.warning(
                "%s: invocation failed, %d message(s) will be retried: %s",
                self._name,
                len(messages),
                error,
            )
            self._retry([m["ReceiptHandle"] for m in messages])
            return
        failed = self._failed_ids(result)
        for message in messages:
            if message["MessageId"] in failed:
                if not self._function_delays_retries:
                    self._retry([message["ReceiptHandle"]])
            else:
                aws_clients.sqs().delete_message(
                    QueueUrl=self._source.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def _failed_ids(self, result: Any) -> set[str]:
        if not self._source.reports_batch_item_failures or not isinstance(result, dict):
            return set()
        return {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}

    def _retry(self, receipt_handles: list[str]) -> None:
        for handle in receipt_handles:
            aws_clients.sqs().change_message_visibility(
                QueueUrl=self._source.queue_url,
                ReceiptHandle=handle,
                VisibilityTimeout=self._retry_delay,
            )

    def _record(self, message: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._queue_arn,
            "awsRegion": self._region,
        }
