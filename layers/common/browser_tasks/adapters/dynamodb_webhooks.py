"""Owners table: each owner's webhook (URL and sealed signing secret) on the owner's item.

The item holds other things too (the balance): every write here is an update of the webhook
attributes only, never a put of the whole item.
"""

from botocore.exceptions import ClientError

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.errors import aws_call, error_code
from browser_tasks.models.webhooks import StoredWebhook

_URL = "webhook_url"
_SECRET = "webhook_secret_ciphertext"  # noqa: S105 - an attribute name
_UPDATED_AT = "webhook_updated_at"


class DynamoWebhookStore:
    def __init__(self, owners_table: str) -> None:
        self._table = owners_table

    def put(self, owner: str, webhook: StoredWebhook) -> None:
        with aws_call("Storing the webhook"):
            aws_clients.dynamodb().update_item(
                TableName=self._table,
                Key={"owner": {"S": owner}},
                UpdateExpression=f"SET {_URL} = :u, {_SECRET} = :s, {_UPDATED_AT} = :t",
                ExpressionAttributeValues={
                    ":u": {"S": webhook.url},
                    ":s": {"S": webhook.secret_ciphertext},
                    ":t": {"S": webhook.updated_at},
                },
            )

    def get(self, owner: str) -> StoredWebhook | None:
        with aws_call("Reading the webhook"):
            item = (
                aws_clients.dynamodb()
                .get_item(
                    TableName=self._table,
                    Key={"owner": {"S": owner}},
                    ProjectionExpression=f"{_URL}, {_SECRET}, {_UPDATED_AT}",
                    ConsistentRead=True,
                )
                .get("Item", {})
            )
        if _URL not in item or _SECRET not in item:
            return None
        return StoredWebhook(
            url=item[_URL]["S"],
            secret_ciphertext=item[_SECRET]["S"],
            updated_at=item.get(_UPDATED_AT, {}).get("S", ""),
        )

    def delete(self, owner: str) -> None:
        # An update of a missing key would create a bare item; the condition keeps the table
        # free of them (an owner with no item has no webhook to delete anyway).
        with aws_call("Deleting the webhook"):
            try:
                aws_clients.dynamodb().update_item(
                    TableName=self._table,
                    Key={"owner": {"S": owner}},
                    UpdateExpression=f"REMOVE {_URL}, {_SECRET}, {_UPDATED_AT}",
                    ConditionExpression="attribute_exists(#owner)",
                    ExpressionAttributeNames={"#owner": "owner"},
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
