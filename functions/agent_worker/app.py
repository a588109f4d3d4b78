"""AgentWorker: takes one WorkQueue message and runs it (a chunk) or parks it (a pause).

Batch size 1: a chunk needs the whole function. Every chunk ends in exactly one answer to its
task token — success with a ChunkResult, or a retryable failure — so the state machine never
waits on a worker that has finished.
"""

# browser-use's telemetry, version check and cloud sync are switched off by the environment
# (the image's ENV, the local stack's), before anything imports it.
import asyncio
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
from browser_tasks.domain.chunk_leases import DeliveryLease, chunk_lease_seconds
from browser_tasks.models.work import (
    AwaitResumeMessage,
    ResumeAnswer,
    RunChunkMessage,
    WorkMessage,
)
from browser_tasks.settings import get_settings
from chunk_runner import ChunkFailed, ChunkRunner
from worker_settings import WorkerSettings, get_operator_secrets, get_worker_settings
from worker_wiring import ports

logger = Logger()
metrics = Metrics()
tracer = Tracer()
processor = BatchProcessor(event_type=EventType.SQS)
_messages: TypeAdapter[Any] = TypeAdapter(WorkMessage)


def record_handler(record: SQSRecord) -> None:
    message = _messages.validate_json(record.body)
    if isinstance(message, AwaitResumeMessage):
        park_pause_token(message)
        return
    logger.append_keys(task_id=message.task_id, chunk=message.chunk, attempt=message.attempt)
    if not ports().callbacks.still_waiting(message.task_token):
        logger.info("The state machine no longer waits on this chunk: delivery dropped")
        return
    settings = get_worker_settings()
    lease = DeliveryLease(
        ports().tasks,
        MessageLease(
            get_settings().work_queue_url, record.receipt_handle, settings.message_lease_seconds
        ),
        message.task_id,
        chunk_lease_seconds(settings.message_lease_seconds, settings.heartbeat_seconds),
    )
    if not lease.acquire():
        # A copy of the message another worker is running now (SQS delivers at least once).
        # Returning deletes the copy, and nothing is lost: should that worker die, its chunk
        # lease lapses before its own message comes back, and that redelivery resumes the
        # chunk; failing even that, the state machine's heartbeat timeout retries the chunk
        # with a new message. Nor is it counted as a worker death (run_chunk): none died.
        logger.info("Another worker is running this chunk: delivery dropped")
        return
    try:
        run_chunk(message, record, lease, settings)
    finally:
        # Only after the token's answer: a copy delivered before it finds the chunk held.
        lease.release()


def run_chunk(
    message: RunChunkMessage, record: SQSRecord, lease: DeliveryLease, settings: WorkerSettings
) -> None:
    """Run the chunk this delivery holds (renewing ``lease`` as it goes); answer its token."""
    # A message seen again means the worker that had it died (killed, out of memory, past
    # the function's timeout) before answering. Run it again from the checkpoint, but not
    # forever: past the limit, fail the token and let the state machine count a retry.
    deliveries = int(record.attributes.approximate_receive_count or 1)
    if deliveries > settings.max_chunk_deliveries:
        cause = (
            f"The worker stopped {deliveries - 1} times while running this chunk "
            "(killed, out of memory or past its timeout)"
        )
        logger.warning("Chunk keeps killing its worker", extra={"deliveries": deliveries})
        ports().callbacks.fail(message.task_token, "WorkerCrashed", cause)
        return
    runner = ChunkRunner(ports(), settings, get_operator_secrets)
    try:
        result = asyncio.run(runner.run(message, lease))
    except ChunkFailed as failure:
        logger.warning(
            "Chunk failed; the state machine will retry it", extra={"error": str(failure)}
        )
        ports().callbacks.fail(message.task_token, "ChunkFailed", str(failure))
        return
    metrics.add_metric(name="StepsRun", unit=MetricUnit.Count, value=result.steps)
    logger.info("Chunk ended", extra={"state": result.state, "steps": result.steps})
    ports().callbacks.succeed(message.task_token, result)


def park_pause_token(message: AwaitResumeMessage) -> None:
    """Store the paused execution's token for stop-task / resume-task to answer.

    A stop or resume asked before the token was stored could not answer it; the flags come
    back with the write, atomically, so whichever request came first is answered here (a stop
    wins). If the API answers the same token too, the second answer is harmless.
    """
    control = ports().tasks.store_resume_token(message.task_id, message.task_token)
    if control.stop:
        ports().callbacks.answer_pause(message.task_token, ResumeAnswer(state="stopped"))
    elif control.resume:
        ports().callbacks.answer_pause(message.task_token, ResumeAnswer(state="resume"))


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = process_partial_response(  # type: ignore[assignment]
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return response
