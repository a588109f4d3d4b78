"""One owner's tasks, newest first: the tasks table's owner/created_at index.

Filters (status, metadata values) are a FilterExpression on the index query: DynamoDB still
reads every entry of the owner, and only the answer shrinks. The index is eventually
consistent: a task created a moment ago may not be listed yet.
"""

from typing import Any

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.dynamodb_items import from_item
from browser_tasks.adapters.errors import aws_call
from browser_tasks.models.task import TaskRecord
from browser_tasks.models.task_view import TaskFilter

OWNER_CREATED_INDEX = "OwnerCreatedIndex"  # template.yaml, TasksTable


class DynamoTaskIndex:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def count(self, owner: str, where: TaskFilter) -> int:
        # Select=COUNT: the matching items are read but not sent, page after page.
        arguments = {**self._query(owner, where), "Select": "COUNT"}
        total = 0
        with aws_call("Counting the tasks"):
            while True:
                page = aws_clients.dynamodb().query(**arguments)
                total += page["Count"]
                if "LastEvaluatedKey" not in page:
                    return total
                arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def newest_first(
        self, owner: str, where: TaskFilter, *, skip: int, take: int
    ) -> list[TaskRecord]:
        arguments = self._query(owner, where)
        wanted = skip + take
        matched: list[dict[str, Any]] = []
        with aws_call("Listing the tasks"):
            while len(matched) < wanted:
                # Each entry read matches at most once, so reading no more than are still
                # wanted never reads past the page (Limit counts entries read, not matches).
                page = aws_clients.dynamodb().query(**arguments, Limit=wanted - len(matched))
                matched += page.get("Items", [])
                if "LastEvaluatedKey" not in page:
                    break
                arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return [TaskRecord.model_validate(from_item(item)) for item in matched[skip:wanted]]

    def _query(self, owner: str, where: TaskFilter) -> dict[str, Any]:
        names = {"#owner": "owner"}
        values: dict[str, Any] = {":owner": {"S": owner}}
        conditions = []
        if where.status is not None:
            names["#status"] = "status"
            values[":status"] = {"S": where.status.value}
            conditions.append("#status = :status")
        if where.metadata:
            names["#metadata"] = "metadata"
        # Placeholders for every key: metadata keys are the caller's text (dots, spaces...).
        for number, (key, value) in enumerate(sorted(where.metadata.items())):
            names[f"#m{number}"] = key
            values[f":m{number}"] = {"S": value}
            conditions.append(f"#metadata.#m{number} = :m{number}")
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": OWNER_CREATED_INDEX,
            "KeyConditionExpression": "#owner = :owner",
            "ScanIndexForward": False,  # newest first
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if conditions:
            query["FilterExpression"] = " AND ".join(conditions)
        return query
