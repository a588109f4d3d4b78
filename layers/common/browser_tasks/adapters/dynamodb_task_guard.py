"""Tasks table: the execution guard's one write, failing a task that has not ended."""

from botocore.exceptions import ClientError

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.errors import aws_call, error_code
from browser_tasks.models.task import TaskStatus

# Every status a task can still leave; the state machine's MarkFailed uses the same condition.
_UNFINISHED = (TaskStatus.CREATED, TaskStatus.RUNNING, TaskStatus.PAUSED)


class DynamoUnfinishedTasks:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def fail_if_unfinished(self, task_id: str, reason: str, *, finished_at: str) -> str | None:
        """``created``/``running``/``paused`` → ``failed``; the task's owner, or None if the task
        had already ended or does not exist (the condition also keeps a missing id from being
        written as a new item).

        ``stop_requested`` is set too: a worker may still be running a chunk of the task, and
        it reads that flag after every step.
        """
        placeholders = {f":{status.value}": {"S": status.value} for status in _UNFINISHED}
        with aws_call("Failing the task"):
            try:
                response = aws_clients.dynamodb().update_item(
                    TableName=self._table,
                    Key={"task_id": {"S": task_id}},
                    UpdateExpression=(
                        "SET #status = :failed, failure_reason = :reason, finished_at = :now, "
                        "updated_at = :now, stop_requested = :yes"
                    ),
                    ConditionExpression=f"#status IN ({', '.join(placeholders)})",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        ":failed": {"S": TaskStatus.FAILED.value},
                        ":reason": {"S": reason},
                        ":now": {"S": finished_at},
                        ":yes": {"BOOL": True},
                        **placeholders,
                    },
                    # The owner is read from the item (the authority) in the same call; the
                    # rest of the returned item is not used.
                    ReturnValues="ALL_NEW",
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    return None
                raise
        return response["Attributes"]["owner"]["S"]
