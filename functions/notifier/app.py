"""NotifierFunction: TaskStatusChanged and WebhookTest events from the WebhookQueue → the
owner's webhook, signed as v1 signs them.

Each record stands alone (partial batch failures). A delivery that fails — no answer, or not
2xx — is retried by the queue: the function hides the message for base x 2^attempt seconds
(``WebhookRetryBaseSeconds``; the attempt is SQS's receive count) and reports it failed. After
``MAX_DELIVERY_ATTEMPTS`` it gives up: logged, counted, and made visible at once so that SQS
moves it to the dead-letter queue (its ``maxReceiveCount`` is the same number). A separate
queue: a slow or broken endpoint never holds up a task.
"""

import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import TypeAdapter

from browser_tasks.adapters.sqs_lease import MessageLease
from browser_tasks.domain.webhooks import (
    MAX_DELIVERY_ATTEMPTS,
    DeliveryOutcome,
    retry_delay_seconds,
)
from browser_tasks.errors import ServiceUnavailable, WebhookDeliveryFailed
from browser_tasks.models.status_events import TaskStatusChange, WebhookQueueEvent
from browser_tasks.services import webhook_notifier
from browser_tasks.settings import get_settings

logger = Logger()
metrics = Metrics()
tracer = Tracer()

# An event of an owner without a webhook publishes no metric; Powertools would warn.
warnings.filterwarnings("ignore", message="No application metrics to publish")
# A batch whose every record failed is still answered with its batchItemFailures rather than
# an error: an invocation error would make Lambda (and the local poller) ignore the retry
# delay each record was given.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
_events: TypeAdapter[Any] = TypeAdapter(WebhookQueueEvent)


def record_handler(record: SQSRecord) -> None:
    event = _events.validate_json(record.body).detail
    attempt = int(record.attributes.approximate_receive_count or 1)
    context = {
        "owner": event.owner,
        "task_id": event.task_id if isinstance(event, TaskStatusChange) else None,
        "status": event.status.value if isinstance(event, TaskStatusChange) else "test",
        "attempt": attempt,
    }
    try:
        outcome = webhook_notifier().deliver(event)
    except WebhookDeliveryFailed as failure:
        retry_later(record, attempt, failure.detail, context)
        raise
    if outcome is DeliveryOutcome.DELIVERED:
        metrics.add_metric(name="WebhooksDelivered", unit=MetricUnit.Count, value=1)
        logger.info("Webhook delivered", extra=context)


def retry_later(record: SQSRecord, attempt: int, reason: str, context: dict[str, Any]) -> None:
    """Hide the message until its next try is due (or, spent, until SQS dead-letters it)."""
    delay = retry_delay_seconds(attempt, get_settings().webhook_retry_base_seconds)
    if delay is None:
        metrics.add_metric(name="WebhookDeliveriesAbandoned", unit=MetricUnit.Count, value=1)
        logger.error(
            f"Webhook delivery given up after {MAX_DELIVERY_ATTEMPTS} attempts; the event goes "
            "to the dead-letter queue",
            extra={**context, "reason": reason},
        )
        delay = 0
    else:
        metrics.add_metric(name="WebhookDeliveryRetries", unit=MetricUnit.Count, value=1)
        logger.warning(
            "Webhook delivery failed; retrying later",
            extra={**context, "reason": reason, "retry_in_seconds": delay},
        )
    try:
        MessageLease(get_settings().webhook_queue_url, record.receipt_handle, delay).renew()
    except ServiceUnavailable as error:
        # The queue's own visibility timeout (6 minutes) then spaces the retry.
        logger.warning("Could not set the retry delay", extra={**context, "error": error.detail})


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = process_partial_response(  # type: ignore[assignment]
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return response
