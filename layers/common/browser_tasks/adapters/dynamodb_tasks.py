"""Tasks table: one item per task, keyed by ``task_id``."""

from typing import Any

from botocore.exceptions import ClientError

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.dynamodb_conditions import update_if
from browser_tasks.adapters.dynamodb_items import from_item, to_item
from browser_tasks.adapters.errors import aws_call, error_code
from browser_tasks.errors import TaskAlreadyExists
from browser_tasks.models.task import TaskControl, TaskOutcome, TaskRecord, TaskStatus
from browser_tasks.models.work import StepStarted

# A flag never set is absent from an item or false: both mean "not being stopped".
_NOT_STOPPING = "(attribute_not_exists(stop_requested) OR stop_requested = :no)"


class DynamoTaskRepository:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def create(self, task: TaskRecord) -> None:
        # Conditional: a task id is written once. A trigger chooses its id before creating the
        # task, so two deliveries of one notification can race here: the later one is told.
        with aws_call("Storing the task"):
            try:
                aws_clients.dynamodb().put_item(
                    TableName=self._table,
                    Item=to_item(task.model_dump(mode="json")),
                    ConditionExpression="attribute_not_exists(task_id)",
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    raise TaskAlreadyExists(task.task_id) from None
                raise

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
        return (
            self._conditional_update(
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
            is not None
        )

    def record_progress(
        self, task_id: str, steps_count: int, cost_cents: int | None, updated_at: str
    ) -> None:
        """Steps recorded so far and what they cost (set, not added: a replayed step is a
        no-op). ``cost_cents`` None leaves the cost as it is (with billing on, the charges
        keep it)."""
        values = {":n": {"N": str(steps_count)}, ":t": {"S": updated_at}}
        update = "SET steps_count = :n, updated_at = :t"
        if cost_cents is not None:
            values[":c"] = {"N": str(cost_cents)}
            update += ", cost_cents = :c"
        with aws_call("Recording progress"):
            aws_clients.dynamodb().update_item(
                TableName=self._table,
                Key={"task_id": {"S": task_id}},
                UpdateExpression=update,
                ExpressionAttributeValues=values,
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

    def fail_if_unfinished(
        self, task_id: str, reason: str, *, finished_at: str
    ) -> TaskRecord | None:
        """``created``/``running``/``paused`` → ``failed`` (the execution guard's one write);
        the task as written, or None if it had already ended or does not exist (the condition
        also keeps a missing id from being written as a new item). The owner and metadata of
        its status event come from the item returned.

        ``stop_requested`` is set too: a worker may still be running a chunk of the task, and
        it reads that flag after every step.
        """
        return self._conditional_update(
            task_id,
            "SET #s = :failed, failure_reason = :r, finished_at = :t, updated_at = :t, "
            "stop_requested = :yes",
            "#s IN (:created, :running, :paused)",
            {
                ":failed": {"S": TaskStatus.FAILED.value},
                ":r": {"S": reason},
                ":t": {"S": finished_at},
                ":yes": {"BOOL": True},
                ":created": {"S": TaskStatus.CREATED.value},
                ":running": {"S": TaskStatus.RUNNING.value},
                ":paused": {"S": TaskStatus.PAUSED.value},
            },
        )

    def record_step_started(self, task_id: str, started: StepStarted) -> None:
        """Written before a step's actions run (one small write a step); see StepStarted."""
        with aws_call("Recording a step's start"):
            aws_clients.dynamodb().update_item(
                TableName=self._table,
                Key={"task_id": {"S": task_id}},
                UpdateExpression="SET step_started = :s",
                ExpressionAttributeValues={":s": to_item({"s": started.model_dump()})["s"]},
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

    def store_resume_token(self, task_id: str, task_token: str) -> TaskControl:
        """Keep the paused execution's token for stop-task and resume-task to answer.

        Returns the flags as they are after the write, read atomically with it: a stop or
        resume asked before the token was here could not answer it, so the worker must.
        """
        with aws_call("Storing the resume token"):
            attributes = (
                aws_clients.dynamodb()
                .update_item(
                    TableName=self._table,
                    Key={"task_id": {"S": task_id}},
                    UpdateExpression="SET resume_token = :t",
                    ExpressionAttributeValues={":t": {"S": task_token}},
                    ReturnValues="ALL_NEW",
                )
                .get("Attributes", {})
            )
        return _control(attributes)

    def mark_stopped_if_created(self, task_id: str, finished_at: str) -> bool:
        return (
            self._conditional_update(
                task_id,
                "SET #s = :stopped, finished_at = :t, updated_at = :t",
                "#s = :created",
                {
                    ":stopped": {"S": "stopped"},
                    ":created": {"S": "created"},
                    ":t": {"S": finished_at},
                },
            )
            is not None
        )

    def request_stop(self, task_id: str) -> TaskRecord | None:
        """Flag the task to stop if it is created, running or paused.

        Returns the task as written, or None if it is in none of those states. Its
        ``resume_token`` is read with the flag, atomically: a token stored after this write
        is answered by the worker, which then sees the flag.
        """
        return self._conditional_update(
            task_id,
            "SET stop_requested = :yes",
            "#s IN (:created, :running, :paused)",
            {
                ":yes": {"BOOL": True},
                ":created": {"S": "created"},
                ":running": {"S": "running"},
                ":paused": {"S": "paused"},
            },
        )

    def request_pause(self, task_id: str) -> bool:
        """Flag a created or running task to pause after its current step.

        Returns False if the task is in neither state, or is being stopped (a stop wins).
        """
        return (
            self._conditional_update(
                task_id,
                "SET pause_requested = :yes",
                f"#s IN (:created, :running) AND {_NOT_STOPPING}",
                {
                    ":yes": {"BOOL": True},
                    ":no": {"BOOL": False},
                    ":created": {"S": "created"},
                    ":running": {"S": "running"},
                },
            )
            is not None
        )

    def request_resume(self, task_id: str) -> TaskRecord | None:
        """Flag a paused task to resume, and drop its pause request.

        Returns the task as written, or None if it is not paused or is being stopped. Its
        ``resume_token`` (None while the worker has not stored it yet) is read with the flag,
        atomically: a token stored after this write is answered by the worker, which then
        sees the flag.
        """
        return self._conditional_update(
            task_id,
            "SET resume_requested = :yes REMOVE pause_requested",
            f"#s = :paused AND {_NOT_STOPPING}",
            {":yes": {"BOOL": True}, ":no": {"BOOL": False}, ":paused": {"S": "paused"}},
        )

    def control(self, task_id: str) -> TaskControl:
        """Read after every step by the worker: one small consistent read of the flags."""
        with aws_call("Checking for a stop or pause"):
            item = (
                aws_clients.dynamodb()
                .get_item(
                    TableName=self._table,
                    Key={"task_id": {"S": task_id}},
                    ProjectionExpression="stop_requested, pause_requested, resume_requested",
                    ConsistentRead=True,
                )
                .get("Item", {})
            )
        return _control(item)

    def acquire_chunk_lease(
        self, task_id: str, holder: str, until_epoch: float, now_epoch: float
    ) -> bool:
        """Take the task's chunk lease (``chunk_lease``: holder and until) unless another
        holder's is still live; its own holder may take it again. Never creates an item."""
        return self._write_chunk_lease(
            task_id,
            "SET chunk_lease = :lease",
            "attribute_exists(task_id) AND (attribute_not_exists(chunk_lease) "
            "OR chunk_lease.#until < :now OR chunk_lease.#holder = :holder)",
            {
                ":lease": {"M": {"holder": {"S": holder}, "until": {"N": str(until_epoch)}}},
                ":now": {"N": str(now_epoch)},
                ":holder": {"S": holder},
            },
        )

    def renew_chunk_lease(self, task_id: str, holder: str, until_epoch: float) -> bool:
        return self._write_chunk_lease(
            task_id,
            "SET chunk_lease.#until = :until",
            "chunk_lease.#holder = :holder",
            {":until": {"N": str(until_epoch)}, ":holder": {"S": holder}},
        )

    def release_chunk_lease(self, task_id: str, holder: str) -> None:
        self._write_chunk_lease(
            task_id,
            "REMOVE chunk_lease",
            "chunk_lease.#holder = :holder",
            {":holder": {"S": holder}},
        )

    def _write_chunk_lease(
        self, task_id: str, update: str, condition: str, values: dict[str, Any]
    ) -> bool:
        """Apply ``update`` if ``condition`` holds; False if it did not. The lease's fields are
        named ``#holder`` and ``#until`` in expressions (UNTIL is a DynamoDB reserved word)."""
        names = {f"#{n}": n for n in ("holder", "until") if f"#{n}" in update + condition}
        with aws_call("Leasing the chunk"):
            written = update_if(
                TableName=self._table,
                Key={"task_id": {"S": task_id}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        return written is not None

    def _conditional_update(
        self, task_id: str, update: str, condition: str, values: dict[str, Any]
    ) -> TaskRecord | None:
        """Apply ``update`` if ``condition`` holds (``#s`` is the status): the task as
        written, or None if the condition did not hold."""
        with aws_call("Updating the task"):
            response = update_if(
                TableName=self._table,
                Key={"task_id": {"S": task_id}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#s": "status"} if "#s" in update + condition else {},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        if response is None:
            return None
        return TaskRecord.model_validate(from_item(response["Attributes"]))


def _control(item: dict[str, Any]) -> TaskControl:
    """The control flags of a raw item (all of it, or a projection); absent means False."""

    def flag(name: str) -> bool:
        return bool(item.get(name, {}).get("BOOL", False))

    return TaskControl(
        stop=flag("stop_requested"), pause=flag("pause_requested"), resume=flag("resume_requested")
    )
