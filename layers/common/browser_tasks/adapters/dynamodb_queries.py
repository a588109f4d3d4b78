"""Paging through a DynamoDB query: how many items match, and the first N that do.

The listing routes (tasks, browser profiles, scheduled tasks) page by page number, so each
asks for a count and for the first ``skip + take`` items of one owner's partition or index.
"""

from typing import Any

from browser_tasks.adapters import aws_clients


def count_matching(query: dict[str, Any]) -> int:
    """Items the query matches (``Select=COUNT``: read but not sent), page after page."""
    arguments = {**query, "Select": "COUNT"}
    total = 0
    while True:
        page = aws_clients.dynamodb().query(**arguments)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def first_matching(query: dict[str, Any], wanted: int) -> list[dict[str, Any]]:
    """The first ``wanted`` items the query answers, in its order."""
    arguments = dict(query)
    items: list[dict[str, Any]] = []
    while len(items) < wanted:
        # Each entry read matches at most once, so reading no more than are still wanted
        # never reads past the page (Limit counts entries read, not matches).
        page = aws_clients.dynamodb().query(**arguments, Limit=wanted - len(items))
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            break
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items[:wanted]
