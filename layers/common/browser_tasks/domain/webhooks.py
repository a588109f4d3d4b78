"""Webhooks: one endpoint per owner for its tasks' status changes, each delivery signed.

The v1 contract: a JSON body ``{"type", "timestamp", "payload"}`` and two headers,
``X-Browser-Use-Timestamp`` (Unix seconds when the request was sent) and
``X-Browser-Use-Signature``, the hex HMAC-SHA256 under the owner's secret of
``f"{timestamp}.{json.dumps(body, separators=(',', ':'), sort_keys=True)}"`` — the whole body,
as browser-use's own SDK and docs verify it (``json.loads`` of the request, then dumped
canonically). We send exactly that canonical text as the body, so a receiver that hashes the
raw bytes gets the same answer.

The body's ``timestamp`` is when the status changed, not when it was sent: deliveries are
retried and EventBridge → SQS keeps no order, so a receiver orders a task's events by it.
"""

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from browser_tasks.domain.ports import (
    HostCheck,
    SecretsCipher,
    StatusEvents,
    WebhookSender,
    WebhookStore,
)
from browser_tasks.errors import RequestInvalid, WebhookDeliveryFailed, WebhookNotFound
from browser_tasks.models.status_events import TaskStatusChange, WebhookTestRequest
from browser_tasks.models.task import utc_timestamp
from browser_tasks.models.webhooks import RegisteredWebhook, StoredWebhook, host_and_port

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
STATUS_UPDATE_TYPE = "agent.task.status_update"
TEST_TYPE = "test"
TIMESTAMP_HEADER = "X-Browser-Use-Timestamp"
SIGNATURE_HEADER = "X-Browser-Use-Signature"
# Tries per event, the first included. WebhookQueue's RedrivePolicy maxReceiveCount in
# template.yaml is the same number (a test keeps them equal): the delivery the notifier gives
# up on is the one SQS then moves to the dead-letter queue.
MAX_DELIVERY_ATTEMPTS = 5


def webhook_secret_context(owner: str) -> dict[str, str]:
    """KMS encryption context of a signing secret: it decrypts for that owner's webhook only
    (a task's secrets, sealed under ``{task_id, owner}``, cannot be passed off as one)."""
    return {"owner": owner, "purpose": "webhook"}


def canonical_json(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def webhook_signature(secret: str, timestamp: str, body: dict[str, Any]) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}.{canonical body}"`` under ``secret``."""
    message = f"{timestamp}.{canonical_json(body)}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def webhook_body(event: TaskStatusChange | WebhookTestRequest) -> dict[str, Any]:
    """The v1 body of a status change, or of the test event (v1's test payload)."""
    if isinstance(event, WebhookTestRequest):
        return {
            "type": TEST_TYPE,
            "timestamp": utc_timestamp(event.timestamp),
            "payload": {"test": "ok"},
        }
    return {
        "type": STATUS_UPDATE_TYPE,
        "timestamp": utc_timestamp(event.timestamp),
        "payload": {
            "task_id": event.task_id,
            "status": event.status.value,
            "metadata": event.metadata,
        },
    }


def retry_delay_seconds(attempt: int, base_seconds: int) -> int | None:
    """How long to wait after failed try number ``attempt`` (1 for the first): ``base`` x
    2^attempt, so 2, 4, 8, 16 x base; None once ``MAX_DELIVERY_ATTEMPTS`` are spent."""
    if attempt >= MAX_DELIVERY_ATTEMPTS:
        return None
    return int(base_seconds * 2 ** max(attempt, 1))


@dataclass(frozen=True)
class WebhookService:
    """``PUT``/``GET``/``DELETE /webhook`` and ``POST /webhook/test``, for the key's owner."""

    store: WebhookStore
    cipher: SecretsCipher
    events: StatusEvents
    hosts: HostCheck
    clock: Callable[[], datetime]
    # In AWS a webhook may not point into our own network (BLOCK_PRIVATE_NETWORKS).
    refuse_private_hosts: bool

    def register(self, owner: str, url: str) -> RegisteredWebhook:
        """Store ``url`` as the owner's webhook with a new signing secret, shown only here.

        Registering again replaces the URL and the secret (the old secret stops verifying).

        Raises
        ------
        RequestInvalid
            The host does not resolve, or resolves to a non-public address (when refused).
        ServiceUnavailable
            KMS or DynamoDB failed; nothing was stored.
        """
        if self.refuse_private_hosts:
            refusal = self.hosts.refusal(*host_and_port(url))
            if refusal is not None:
                raise RequestInvalid(
                    [(["body", "url"], f"Webhook URL refused: {refusal}", "value_error")]
                )
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        sealed = self.cipher.encrypt(secret, webhook_secret_context(owner))
        self.store.put(owner, StoredWebhook(url, sealed, utc_timestamp(self.clock())))
        return RegisteredWebhook(url=url, secret=secret)

    def url(self, owner: str) -> str:
        """The owner's webhook URL; ``WebhookNotFound`` if none is registered."""
        webhook = self.store.get(owner)
        if webhook is None:
            raise WebhookNotFound()
        return webhook.url

    def delete(self, owner: str) -> None:
        """No more deliveries; deleting when there is none is not an error."""
        self.store.delete(owner)

    def request_test(self, owner: str) -> None:
        """Queue one ``test`` delivery to the owner's webhook.

        Raises
        ------
        WebhookNotFound
            There is no webhook to test.
        ServiceUnavailable
            The request could not be put on the bus.
        """
        self.url(owner)
        self.events.webhook_test_requested(WebhookTestRequest(owner=owner, timestamp=self.clock()))


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"
    NO_WEBHOOK = "no_webhook"  # the owner has none (now): nothing to do


@dataclass(frozen=True)
class WebhookNotifier:
    """Delivers one event to its owner's webhook, signed, at the moment it is called."""

    store: WebhookStore
    cipher: SecretsCipher
    sender: WebhookSender
    clock: Callable[[], datetime]

    def deliver(self, event: TaskStatusChange | WebhookTestRequest) -> DeliveryOutcome:
        """POST the event's v1 body to the owner's current webhook.

        Raises
        ------
        WebhookDeliveryFailed
            No answer, or an answer other than 2xx: the caller retries later.
        """
        webhook = self.store.get(event.owner)
        if webhook is None:
            return DeliveryOutcome.NO_WEBHOOK
        secret = self.cipher.decrypt(webhook.secret_ciphertext, webhook_secret_context(event.owner))
        body = webhook_body(event)
        # The sending time, not the event's: receivers refuse signatures older than 300 s,
        # and a retried delivery is signed afresh.
        sent_at = str(int(self.clock().timestamp()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: sent_at,
            SIGNATURE_HEADER: webhook_signature(secret, sent_at, body),
        }
        status = self.sender.post(webhook.url, canonical_json(body).encode(), headers)
        if not 200 <= status < 300:
            raise WebhookDeliveryFailed(f"the webhook answered HTTP {status}")
        return DeliveryOutcome.DELIVERED
