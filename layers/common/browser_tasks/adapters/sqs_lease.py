"""Holding a queue message only as long as its worker lives.

The WorkQueue's visibility timeout must be at least the worker's 900 s function timeout (an
SQS event source refuses less), so a worker that dies would leave its chunk hidden for that
long. Instead the worker leases its message for a couple of minutes and renews the lease
while it runs: if it dies, the chunk is visible again — and resumed from its checkpoint — a
couple of minutes later, without waiting for the state machine's heartbeat timeout (which
also counts the time a chunk waits in the queue, so it cannot be short).
"""

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.errors import aws_call


class MessageLease:
    def __init__(self, queue_url: str, receipt_handle: str, seconds: int) -> None:
        self._queue_url = queue_url
        self._receipt_handle = receipt_handle
        self.seconds = seconds

    def renew(self) -> None:
        """Hide the message for ``seconds`` from now (the notifier also uses it to space a
        failed delivery's retry)."""
        with aws_call("Hiding the queue message"):
            aws_clients.sqs().change_message_visibility(
                QueueUrl=self._queue_url,
                ReceiptHandle=self._receipt_handle,
                VisibilityTimeout=self.seconds,
            )
