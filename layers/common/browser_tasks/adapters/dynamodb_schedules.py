"""Schedules table: one item per scheduled task, keyed by ``owner`` and ``scheduled_task_id``.

Scheduled task ids sort by creation time (domain/ids.py), so the owner's partition read
backwards is newest first. Every read and write names the owner in the key, so another
owner's scheduled task is simply not there. The item's ``firing`` map is written only by
firings, each write conditional on its version; the API's writes never touch it.
"""

from typing import Any

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.dynamodb_conditions import update_if
from browser_tasks.adapters.dynamodb_items import from_item, to_item
from browser_tasks.adapters.dynamodb_queries import count_matching, first_matching
from browser_tasks.adapters.errors import aws_call
from browser_tasks.models.scheduled_task import FiringState, ScheduledTaskRecord

_FIRING = "firing"


class DynamoScheduleRepository:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def create(self, record: ScheduledTaskRecord) -> None:
        with aws_call("Storing the scheduled task"):
            aws_clients.dynamodb().put_item(
                TableName=self._table,
                Item=to_item(record.model_dump(mode="json")),
                ConditionExpression="attribute_not_exists(scheduled_task_id)",
            )

    def get(self, owner: str, scheduled_task_id: str) -> ScheduledTaskRecord | None:
        with aws_call("Reading the scheduled task"):
            item = aws_clients.dynamodb().get_item(
                TableName=self._table, Key=self._key(owner, scheduled_task_id), ConsistentRead=True
            )
        return (
            ScheduledTaskRecord.model_validate(from_item(item["Item"])) if "Item" in item else None
        )

    def replace_definition(self, record: ScheduledTaskRecord) -> bool:
        fields = record.model_dump(mode="json", exclude={"owner", "scheduled_task_id", _FIRING})
        present = to_item(fields)
        absent = [name for name, value in fields.items() if value is None]  # e.g. secrets cleared
        update = "SET " + ", ".join(f"#{n} = :{n}" for n in present)
        if absent:
            update += " REMOVE " + ", ".join(f"#{n}" for n in absent)
        return self._conditional_update(
            record.owner,
            record.scheduled_task_id,
            update,
            # Without it, an update racing a DELETE would bring back a bare item.
            "attribute_exists(scheduled_task_id)",
            {f"#{n}": n for n in fields},
            {f":{n}": v for n, v in present.items()},
            "Updating the scheduled task",
        )

    def save_firing(
        self, owner: str, scheduled_task_id: str, firing: FiringState, *, expected_version: int
    ) -> bool:
        return self._conditional_update(
            owner,
            scheduled_task_id,
            "SET #firing = :firing",
            "attribute_exists(scheduled_task_id) AND #firing.#version = :expected",
            {"#firing": _FIRING, "#version": "version"},
            {
                ":firing": {"M": to_item(firing.model_dump(mode="json"))},
                ":expected": {"N": str(expected_version)},
            },
            "Recording the scheduled task's firing",
        )

    def delete(self, owner: str, scheduled_task_id: str) -> None:
        with aws_call("Deleting the scheduled task"):
            aws_clients.dynamodb().delete_item(
                TableName=self._table, Key=self._key(owner, scheduled_task_id)
            )

    def count(self, owner: str) -> int:
        with aws_call("Counting the scheduled tasks"):
            return count_matching(self._owners_schedules(owner))

    def newest_first(self, owner: str, *, skip: int, take: int) -> list[ScheduledTaskRecord]:
        with aws_call("Listing the scheduled tasks"):
            items = first_matching(self._owners_schedules(owner), skip + take)
        return [ScheduledTaskRecord.model_validate(from_item(item)) for item in items[skip:]]

    def _conditional_update(
        self,
        owner: str,
        scheduled_task_id: str,
        update: str,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any],
        what: str,
    ) -> bool:
        with aws_call(what):
            written = update_if(
                TableName=self._table,
                Key=self._key(owner, scheduled_task_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        return written is not None

    def _owners_schedules(self, owner: str) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "KeyConditionExpression": "#owner = :owner",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":owner": {"S": owner}},
            "ScanIndexForward": False,  # newest first: ids sort by creation time
            "ConsistentRead": True,
        }

    @staticmethod
    def _key(owner: str, scheduled_task_id: str) -> dict[str, Any]:
        return {"owner": {"S": owner}, "scheduled_task_id": {"S": scheduled_task_id}}
