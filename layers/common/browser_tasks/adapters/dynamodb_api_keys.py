"""API keys table: ``key_hash`` → owner. The key itself is never stored."""

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.errors import aws_call


class DynamoApiKeyRepository:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def owner_of(self, key_hash: str) -> str | None:
        with aws_call("Checking the API key"):
            item = (
                aws_clients.dynamodb()
                .get_item(TableName=self._table, Key={"key_hash": {"S": key_hash}})
                .get("Item")
            )
        return item["owner"]["S"] if item else None

    def add(self, key_hash: str, owner: str, created_at: str) -> None:
        with aws_call("Storing the API key"):
            aws_clients.dynamodb().put_item(
                TableName=self._table,
                Item={
                    "key_hash": {"S": key_hash},
                    "owner": {"S": owner},
                    "created_at": {"S": created_at},
                },
            )
