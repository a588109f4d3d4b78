"""ExecutionGuardFunction: a task whose execution failed, timed out or was aborted is failed.

EventBridge delivers Step Functions' "Execution Status Change" events of the task state machine
for those three statuses (the rule in template.yaml; locally, the stack's execution watch).
Thin on purpose: parse the event's detail, one domain call, log what it did. An error (the
table could not be written) is raised, so the event is delivered again and, after the retries,
lands in the dead-letter queue.
"""

import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from browser_tasks.domain.execution_guard import GuardVerdict
from browser_tasks.models.execution import ExecutionStatusChange
from browser_tasks.services import execution_guard

logger = Logger()
metrics = Metrics()
tracer = Tracer()

# Most events find their task already ended and publish no metric; Powertools would warn.
warnings.filterwarnings("ignore", message="No application metrics to publish")


class ExecutionStatusChangeEvent(EventBridgeModel):
    """The EventBridge event around the detail (source ``aws.states``)."""

    detail: ExecutionStatusChange


@logger.inject_lambda_context(clear_state=True)  # one event's task id never tags the next
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    change = parse(event=event, model=ExecutionStatusChangeEvent).detail
    result = execution_guard().execution_ended(change)
    logger.append_keys(task_id=result.task_id, execution_status=change.status)
    if result.verdict is GuardVerdict.TASK_FAILED:
        metrics.add_metric(name="TasksFailedByExecutionGuard", unit=MetricUnit.Count, value=1)
        logger.warning("Marked the task failed: its execution ended before the task did")
        if not result.announced:
            logger.warning("The TaskStatusChanged event could not be sent")
    else:
        logger.info("Execution end needed nothing", extra={"verdict": result.verdict.value})
    return {"task_id": result.task_id, "verdict": result.verdict.value}
