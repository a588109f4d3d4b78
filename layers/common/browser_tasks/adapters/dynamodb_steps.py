"""Steps table: one item per (task_id, step). A redelivered step overwrites itself."""

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.dynamodb_items import from_item, to_item
from browser_tasks.adapters.errors import aws_call
from browser_tasks.models.step import StepRecord


class DynamoStepRepository:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def put(self, step: StepRecord) -> None:
        # Unconditional on purpose: replaying a step after a crash rewrites the same key.
        with aws_call("Storing the step"):
            aws_clients.dynamodb().put_item(
                TableName=self._table, Item=to_item(step.model_dump(mode="json"))
            )

    def list(self, task_id: str, after: int = 0) -> list[StepRecord]:
        steps: list[StepRecord] = []
        # ``step`` is the sort key: a page polling for new steps reads only those.
        arguments = {
            "TableName": self._table,
            "KeyConditionExpression": "task_id = :t AND step > :after",
            "ExpressionAttributeValues": {":t": {"S": task_id}, ":after": {"N": str(after)}},
            "ConsistentRead": True,
        }
        with aws_call("Reading the steps"):
            while True:
                page = aws_clients.dynamodb().query(**arguments)  # type: ignore[arg-type]
                steps += [StepRecord.model_validate(from_item(i)) for i in page.get("Items", [])]
                if "LastEvaluatedKey" not in page:
                    return steps
                arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
