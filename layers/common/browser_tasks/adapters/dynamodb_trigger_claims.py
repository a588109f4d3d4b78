"""Trigger claims table: one item per S3 spec version or RunTask event the trigger acted on,
keyed by ``claim_key``, holding the id its task has (or will have); expired by TTL."""

from typing import Any

from botocore.exceptions import ClientError

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.errors import aws_call, error_code
from browser_tasks.domain.triggers import Claim


class DynamoTriggerClaims:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def claim(self, claim_key: str, task_id: str, claimed_at: str, expires_at: int) -> Claim:
        """Put the claim unless one exists: one conditional write, which also returns the
        claim that was there (ALL_OLD on the failed condition)."""
        with aws_call("Claiming the trigger"):
            try:
                aws_clients.dynamodb().put_item(
                    TableName=self._table,
                    Item={
                        "claim_key": {"S": claim_key},
                        "task_id": {"S": task_id},
                        "claimed_at": {"S": claimed_at},
                        "expires_at": {"N": str(expires_at)},
                    },
                    ConditionExpression="attribute_not_exists(claim_key)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
                held: Any = error.response.get("Item", {})
                return Claim(
                    task_id=held["task_id"]["S"],
                    fresh=False,
                    rejected=bool(held.get("rejected", {}).get("BOOL", False)),
                )
        return Claim(task_id=task_id, fresh=True)

    def mark_rejected(self, claim_key: str) -> None:
        with aws_call("Recording the trigger's refusal"):
            aws_clients.dynamodb().update_item(
                TableName=self._table,
                Key={"claim_key": {"S": claim_key}},
                UpdateExpression="SET rejected = :yes",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
            )
