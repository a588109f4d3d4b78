"""Conditional writes: a condition that does not hold is an answer, not an error."""

from typing import Any

from botocore.exceptions import ClientError

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.errors import error_code


def update_if(**arguments: Any) -> dict[str, Any] | None:
    """``UpdateItem`` with its ``ConditionExpression``: the response, or None if the condition
    did not hold (nothing was written). Other failures propagate (callers wrap them in
    ``aws_call``). An empty ``ExpressionAttributeNames`` is left out: DynamoDB refuses an
    empty map (moto does not)."""
    if not arguments.get("ExpressionAttributeNames"):
        arguments.pop("ExpressionAttributeNames", None)
    try:
        response: dict[str, Any] = dict(aws_clients.dynamodb().update_item(**arguments))
    except ClientError as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return None
        raise
    return response
