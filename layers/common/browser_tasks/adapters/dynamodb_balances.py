"""Owners table: each owner's ``balance`` in cents, changed only by atomic conditional writes.

Other attributes of the owner's item (e.g. its webhook) are left alone: every write is an
update of ``balance``, never a put of the whole item.
"""

import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.errors import aws_call, error_code
from browser_tasks.errors import ServiceUnavailable
from browser_tasks.models.billing import StepCharge

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

# DynamoDB cancels a transaction that meets another one on the same item (two tasks of one
# owner charging a step at the same moment); trying again a little later is what AWS advises.
_CONFLICT_ATTEMPTS = 5


class DynamoBalances:
    def __init__(self, owners_table: str, tasks_table: str) -> None:
        self._owners = owners_table
        self._tasks = tasks_table

    def balance(self, owner: str) -> int:
        """The owner's balance; 0 for an owner never credited."""
        with aws_call("Reading the balance"):
            item = (
                aws_clients.dynamodb()
                .get_item(
                    TableName=self._owners,
                    Key={"owner": {"S": owner}},
                    ProjectionExpression="balance",
                    ConsistentRead=True,
                )
                .get("Item", {})
            )
        return int(item.get("balance", {}).get("N", "0"))

    def credit(self, owner: str, cents: int) -> int:
        """Add ``cents``; the balance after."""
        with aws_call("Crediting the balance"):
            attributes = aws_clients.dynamodb().update_item(
                TableName=self._owners,
                Key={"owner": {"S": owner}},
                UpdateExpression="ADD balance :c",
                ExpressionAttributeValues={":c": {"N": str(cents)}},
                ReturnValues="UPDATED_NEW",
            )["Attributes"]
        return int(attributes["balance"]["N"])

    def debit_if_at_least(self, owner: str, cents: int, at_least: int) -> int | None:
        """Take ``cents`` if the balance is at least ``at_least``, in one conditional write.

        Returns None when taken, else the balance that fell short.
        """
        with aws_call("Charging the balance"):
            try:
                aws_clients.dynamodb().update_item(
                    TableName=self._owners,
                    Key={"owner": {"S": owner}},
                    UpdateExpression="SET balance = balance - :c",
                    ConditionExpression="balance >= :least",
                    ExpressionAttributeValues={
                        ":c": {"N": str(cents)},
                        ":least": {"N": str(at_least)},
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
                old: Any = error.response.get("Item", {})  # ALL_OLD: the item as it was
                return int(old.get("balance", {}).get("N", "0"))
        return None

    def refund_task_start(self, owner: str, task_id: str, cents: int) -> None:
        """Give back a task's start fee and set its cost to 0, together and at most once (the
        task must still cost exactly ``cents``)."""
        self._transact(
            "Refunding the start fee",
            [
                {
                    "Update": {
                        "TableName": self._owners,
                        "Key": {"owner": {"S": owner}},
                        "UpdateExpression": "ADD balance :c",
                        "ExpressionAttributeValues": {":c": {"N": str(cents)}},
                    }
                },
                {
                    "Update": {
                        "TableName": self._tasks,
                        "Key": {"task_id": {"S": task_id}},
                        "UpdateExpression": "SET cost_cents = :zero",
                        "ConditionExpression": "cost_cents = :c",
                        "ExpressionAttributeValues": {
                            ":c": {"N": str(cents)},
                            ":zero": {"N": "0"},
                        },
                    }
                },
            ],
        )

    def charge_step(
        self, owner: str, task_id: str, step: int, cents: int, task_cost_cents: int
    ) -> StepCharge:
        """Take a step's price from the owner and mark the step charged on the task, in one
        transaction: a step whose number the task has already been charged for (a replay
        after a crash) takes nothing, and the balance never goes below 0.

        The task's ``cost_cents`` becomes ``task_cost_cents`` with the charge.
        """
        reasons = self._transact(
            "Charging a step",
            [
                {
                    "Update": {
                        "TableName": self._owners,
                        "Key": {"owner": {"S": owner}},
                        "UpdateExpression": "SET balance = balance - :c",
                        "ConditionExpression": "balance >= :c",
                        "ExpressionAttributeValues": {":c": {"N": str(cents)}},
                    }
                },
                {
                    "Update": {
                        "TableName": self._tasks,
                        "Key": {"task_id": {"S": task_id}},
                        "UpdateExpression": "SET charged_steps = :n, cost_cents = :cost",
                        "ConditionExpression": (
                            "attribute_not_exists(charged_steps) OR charged_steps < :n"
                        ),
                        "ExpressionAttributeValues": {
                            ":n": {"N": str(step)},
                            ":cost": {"N": str(task_cost_cents)},
                        },
                    }
                },
            ],
        )
        if reasons is None:
            return StepCharge.CHARGED
        owner_reason, task_reason = reasons
        if task_reason == "ConditionalCheckFailed":  # whatever the balance: it was paid for
            return StepCharge.ALREADY_CHARGED
        if owner_reason == "ConditionalCheckFailed":
            return StepCharge.NOT_COVERED
        raise ServiceUnavailable(f"Charging a step failed ({owner_reason}, {task_reason})")

    def _transact(self, what: str, items: "list[TransactWriteItemTypeDef]") -> list[str] | None:
        """Run the transaction; None if it went through, else each item's cancellation code
        (``ConditionalCheckFailed`` where a condition did not hold, ``None`` where it did)."""
        for attempt in range(_CONFLICT_ATTEMPTS):
            with aws_call(what):
                try:
                    aws_clients.dynamodb().transact_write_items(TransactItems=items)
                except ClientError as error:
                    if error_code(error) != "TransactionCanceledException":
                        raise
                    reasons = [
                        str(r.get("Code", "None"))
                        for r in error.response.get("CancellationReasons", [])
                    ]
                    if "TransactionConflict" not in reasons:
                        return reasons
                else:
                    return None
            time.sleep(0.05 * 2**attempt)
        raise ServiceUnavailable(f"{what} failed (TransactionConflict)")
