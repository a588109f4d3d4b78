"""EventBridge Scheduler: one schedule per scheduled task, in the stack's schedule group,
sending the firing message to the trigger queue with the scheduler role."""

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.errors import aws_call, error_code
from browser_tasks.models.scheduled_task import SchedulePlan

if TYPE_CHECKING:
    from mypy_boto3_scheduler.type_defs import TargetTypeDef

# A firing the queue refused is retried for an hour, then kept in the dead-letter queue; a
# firing that late would mostly be skipped or dropped anyway.
RETRY_SECONDS = 3600
RETRY_ATTEMPTS = 10


class EventBridgeSchedules:
    def __init__(
        self, group_name: str, target_queue_arn: str, role_arn: str, dead_letter_queue_arn: str
    ) -> None:
        self._group = group_name
        self._queue_arn = target_queue_arn
        self._role_arn = role_arn
        self._dead_letter_arn = dead_letter_queue_arn

    def create(self, plan: SchedulePlan) -> None:
        with aws_call("Creating the schedule"):
            aws_clients.scheduler().create_schedule(Name=plan.name, **self._arguments(plan))

    def update(self, plan: SchedulePlan) -> None:
        # UpdateSchedule replaces every setting: the whole schedule is sent each time.
        with aws_call("Updating the schedule"):
            aws_clients.scheduler().update_schedule(Name=plan.name, **self._arguments(plan))

    def delete(self, name: str) -> None:
        with aws_call("Deleting the schedule"):
            try:
                aws_clients.scheduler().delete_schedule(Name=name, GroupName=self._group)
            except ClientError as error:
                if error_code(error) != "ResourceNotFoundException":
                    raise

    def _arguments(self, plan: SchedulePlan) -> dict[str, Any]:
        target: TargetTypeDef = {
            "Arn": self._queue_arn,
            "RoleArn": self._role_arn,
            "Input": plan.input,
            "RetryPolicy": {
                "MaximumEventAgeInSeconds": RETRY_SECONDS,
                "MaximumRetryAttempts": RETRY_ATTEMPTS,
            },
            "DeadLetterConfig": {"Arn": self._dead_letter_arn},
        }
        return {
            "GroupName": self._group,
            "ScheduleExpression": plan.expression,
            "ScheduleExpressionTimezone": "UTC",
            "StartDate": plan.start_date,
            "EndDate": plan.end_date,
            "State": "ENABLED" if plan.enabled else "DISABLED",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": target,
        }
