"""TriggerFunction: the TriggerQueue's messages → the same "create task" call as run-task.

S3 task specs, RunTask events and schedule firings start tasks; TaskStatusChanged of an
S3-started task writes its result beside its spec (see ``browser_tasks.domain.triggers`` and
``domain.schedules``). Each record stands alone (partial batch failures): an AWS call that
fails (``ServiceUnavailable``) reports the record failed, and SQS delivers it again (to
TriggerDeadLetterQueue after 3 tries). A message of no known shape is logged and dropped: no
retry would make it one.
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
from pydantic import TypeAdapter, ValidationError

from browser_tasks.models.scheduled_task import ScheduleFiring
from browser_tasks.models.status_events import TaskStatusChangedEvent
from browser_tasks.models.triggers import ObjectCreatedEvent, RunTaskEvent, TriggerMessage
from browser_tasks.services import schedule_service, trigger_service

logger = Logger()
metrics = Metrics()
tracer = Tracer()

# A batch of results for tasks not started from S3 publishes no metric; Powertools would warn.
warnings.filterwarnings("ignore", message="No application metrics to publish")
# A batch whose every record failed is answered with its batchItemFailures like any other.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
_messages: TypeAdapter[Any] = TypeAdapter(TriggerMessage)


def record_handler(record: SQSRecord) -> None:
    try:
        message = _messages.validate_json(record.body)
    except ValidationError as unknown:
        # Where and what kind of problem only: the message may carry a task's secrets.
        problems = [
            {"loc": list(e["loc"]), "type": e["type"]}
            for e in unknown.errors(include_url=False, include_input=False)
        ]
        logger.warning(
            "Dropped a message of no known shape",
            extra={"message_id": record.message_id, "problems": problems[:10]},
        )
        metrics.add_metric(name="TriggerMessagesDropped", unit=MetricUnit.Count, value=1)
        return
    outcome = handle(message)  # e.g. "start_failed" → the metric TriggerStartFailed
    metrics.add_metric(
        name="Trigger" + outcome.title().replace("_", ""), unit=MetricUnit.Count, value=1
    )


def handle(
    message: ObjectCreatedEvent | RunTaskEvent | TaskStatusChangedEvent | ScheduleFiring,
) -> str:
    """One message → its one domain call; what it did."""
    if isinstance(message, ObjectCreatedEvent):
        return trigger_service().start_from_spec(message).value
    if isinstance(message, RunTaskEvent):
        return trigger_service().start_from_event(message).value
    if isinstance(message, TaskStatusChangedEvent):
        return trigger_service().write_result(message.detail).value
    return fire_schedule(message)


def fire_schedule(firing: ScheduleFiring) -> str:
    result = schedule_service().fire(firing)
    logger.info("Schedule fired", extra=result.model_dump(exclude_none=True))
    return result.outcome.value


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = process_partial_response(  # type: ignore[assignment]
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return response
