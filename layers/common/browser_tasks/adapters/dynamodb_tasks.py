"""Tasks table: one item per task, keyed by ``task_id``."""

from typing import Any

from botocore.exceptions import ClientError

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.dynamodb_items import from_item, to_item
from browser_tasks.adapters.errors import aws_call, error_code
from browser_tasks.models.task import TaskOutcome, TaskRecord, TaskStatus


class DynamoTaskRepository:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def create(self, task: TaskRecord) -> None:
        # Conditional: a task id is written once; a (vanishingly unlikely) collision fails loudly.
        with aws_call("Storing the task"):
            aws_clients.dynamodb().put_item(
                TableName=self._table,
                Item=to_item(task.model_dump(mode="json")),
                ConditionExpression="attribute_not_exists(task_id)",
            )

    def get(self, task_id: str) -> TaskRecord | None:
        with aws_call("Reading the task"):
            response = aws_clients.dynamodb().get_item(
                TableName=self._table, Key={"task_id": {"S": task_id}}, ConsistentRead=True
            )
        item = response.get("Item")
        return TaskRecord.model_validate(from_item(item)) if item else None

    def mark_failed(
        self, task_id: str, reason: str, *, finished_at: str, expected: TaskStatus
    ) -> bool:
        return self._conditional_update(
            task_id,
            "SET #s = :failed, failure_reason = :r, finished_at = :t",
            "#s = :expected",
            {
                ":failed": {"S": TaskStatus.FAILED.value},
                ":expected": {"S": expected.value},
                ":r": {"S": reason},
                ":t": {"S": finished_at},
            },
        )

    def record_progress(
        self, task_id: str, steps_count: int, cost_cents: int, updated_at: str
    ) -> None:
        """Steps recorded so far and what they cost (set, not added: a replayed step is a
        no-op)."""
        with aws_call("Recording progress"):
            aws_clients.dynamodb().update_item(
                TableName=self._table,
                Key={"task_id": {"S": task_id}},
                UpdateExpression="SET steps_count = :n, cost_cents = :c, updated_at = :t",
                ExpressionAttributeValues={
                    ":n": {"N": str(steps_count)},
                    ":c": {"N": str(cost_cents)},
                    ":t": {"S": updated_at},
                },
            )

    def record_outcome(self, task_id: str, outcome: TaskOutcome, updated_at: str) -> None:
        values = to_item({**outcome.model_dump(mode="json"), "updated_at": updated_at})
        names = {f"#{name}": name for name in values}
        with aws_call("Recording the outcome"):
            aws_clients.dynamodb().update_item(
                TableName=self._table,
                Key={"task_id": {"S": task_id}},
                UpdateExpression="SET " + ", ".join(f"#{n} = :{n}" for n in values),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={f":{n}": v for n, v in values.items()},
            )

    def add_note(self, task_id: str, note: str) -> None:
        """A line the caller should know about the run (e.g. "no proxy configured")."""
        with aws_call("Recording a note"):
            try:
                aws_clients.dynamodb().update_item(
                    TableName=self._table,
                    Key={"task_id": {"S": task_id}},
                    UpdateExpression="SET notes = list_append(if_not_exists(notes, :empty), :n)",
                    ConditionExpression="NOT contains(notes, :text)",
                    ExpressionAttributeValues={
                        ":n": {"L": [{"S": note}]},
                        ":empty": {"L": []},
                        ":text": {"S": note},
                    },
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":  # already noted
                    raise

    def store_resume_token(self, task_id: str, task_token: str) -> None:
        """The paused execution's token, for resume-task and stop-task to answer."""
        with aws_call("Storing the resume token"):
            aws_clients.dynamodb().update_item(
                TableName=self._table,
                Key={"task_id": {"S": task_id}},
                UpdateExpression="SET resume_token = :t",
                ExpressionAttributeValues={":t": {"S": task_token}},
            )

    def mark_stopped_if_created(self, task_id: str, finished_at: str) -> bool:
        return self._conditional_update(
            task_id,
            "SET #s = :stopped, finished_at = :t, updated_at = :t",
            "#s = :created",
            {":stopped": {"S": "stopped"}, ":created": {"S": "created"}, ":t": {"S": finished_at}},
        )

    def request_stop(self, task_id: str) -> bool:
        return self._conditional_update(
            task_id,
            "SET stop_requested = :yes",
            "#s IN (:running, :paused, :created)",
            {
                ":yes": {"BOOL": True},
                ":running": {"S": "running"},
                ":paused": {"S": "paused"},
                ":created": {"S": "created"},
            },
        )

    def stop_requested(self, task_id: str) -> bool:
        """Read after every step by the worker: one small consistent read."""
        with aws_call("Checking for a stop"):
            item = (
                aws_clients.dynamodb()
                .get_item(
                    TableName=self._table,
                    Key={"task_id": {"S": task_id}},
                    ProjectionExpression="stop_requested",
                    ConsistentRead=True,
                )
                .get("Item", {})
            )
        return bool(item.get("stop_requested", {}).get("BOOL", False))

    def _conditional_update(
        self, task_id: str, update: str, condition: str, values: dict[str, Any]
    ) -> bool:
        """Apply ``update`` if ``condition`` holds (``#s`` is the status); False if not."""
        with aws_call("Updating the task"):
            try:
                aws_clients.dynamodb().update_item(
                    TableName=self._table,
                    Key={"task_id": {"S": task_id}},
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#s": "status"} if "#s" in update + condition else {},
                    ExpressionAttributeValues=values,
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    return False
                raise
        return True
