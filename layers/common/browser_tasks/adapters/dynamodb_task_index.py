"""One owner's tasks, newest first: the tasks table's owner/created_at index.

Filters (status, metadata values) are a FilterExpression on the index query: DynamoDB still
reads every entry of the owner, and only the answer shrinks. The index is eventually
consistent: a task created a moment ago may not be listed yet.
"""

from typing import Any

from browser_tasks.adapters.dynamodb_items import from_item
from browser_tasks.adapters.dynamodb_queries import count_matching, first_matching
from browser_tasks.adapters.errors import aws_call
from browser_tasks.models.task import TaskRecord
from browser_tasks.models.task_view import TaskFilter

OWNER_CREATED_INDEX = "OwnerCreatedIndex"  # template.yaml, TasksTable


class DynamoTaskIndex:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def count(self, owner: str, where: TaskFilter) -> int:
        with aws_call("Counting the tasks"):
            return count_matching(self._query(owner, where))

    def newest_first(
        self, owner: str, where: TaskFilter, *, skip: int, take: int
    ) -> list[TaskRecord]:
        with aws_call("Listing the tasks"):
            items = first_matching(self._query(owner, where), skip + take)
        return [TaskRecord.model_validate(from_item(item)) for item in items[skip:]]

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
