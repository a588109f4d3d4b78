"""Profiles table: one item per browser profile, keyed by ``owner`` and ``profile_id``.

Profile ids sort by creation time (domain/ids.py), so the owner's partition read backwards
is newest first: no index is needed. Every read and write names the owner in the key, so
another owner's profile is simply not there.
"""

from typing import Any

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.dynamodb_conditions import update_if
from browser_tasks.adapters.dynamodb_items import from_item, to_item
from browser_tasks.adapters.dynamodb_queries import count_matching, first_matching
from browser_tasks.adapters.errors import aws_call
from browser_tasks.models.browser_profile import BrowserProfileRecord


class DynamoBrowserProfileRepository:
    def __init__(self, table_name: str) -> None:
        self._table = table_name

    def create(self, profile: BrowserProfileRecord) -> None:
        with aws_call("Storing the browser profile"):
            aws_clients.dynamodb().put_item(
                TableName=self._table,
                Item=to_item(profile.model_dump(mode="json")),
                ConditionExpression="attribute_not_exists(profile_id)",
            )

    def get(self, owner: str, profile_id: str) -> BrowserProfileRecord | None:
        with aws_call("Reading the browser profile"):
            item = aws_clients.dynamodb().get_item(
                TableName=self._table, Key=self._key(owner, profile_id), ConsistentRead=True
            )
        return (
            BrowserProfileRecord.model_validate(from_item(item["Item"])) if "Item" in item else None
        )

    def update(
        self, owner: str, profile_id: str, changes: dict[str, Any], updated_at: str
    ) -> BrowserProfileRecord | None:
        values = to_item({**changes, "updated_at": updated_at})
        with aws_call("Updating the browser profile"):
            written = update_if(
                TableName=self._table,
                Key=self._key(owner, profile_id),
                UpdateExpression="SET " + ", ".join(f"#{n} = :{n}" for n in values),
                # Without it, an update of a missing profile would create a bare item.
                ConditionExpression="attribute_exists(profile_id)",
                ExpressionAttributeNames={f"#{n}": n for n in values},
                ExpressionAttributeValues={f":{n}": v for n, v in values.items()},
                ReturnValues="ALL_NEW",
            )
        if written is None:
            return None
        return BrowserProfileRecord.model_validate(from_item(written["Attributes"]))

    def delete(self, owner: str, profile_id: str) -> bool:
        with aws_call("Deleting the browser profile"):
            removed = aws_clients.dynamodb().delete_item(
                TableName=self._table, Key=self._key(owner, profile_id), ReturnValues="ALL_OLD"
            )
        return "Attributes" in removed

    def count(self, owner: str) -> int:
        with aws_call("Counting the browser profiles"):
            return count_matching(self._owners_profiles(owner))

    def newest_first(self, owner: str, *, skip: int, take: int) -> list[BrowserProfileRecord]:
        with aws_call("Listing the browser profiles"):
            items = first_matching(self._owners_profiles(owner), skip + take)
        return [BrowserProfileRecord.model_validate(from_item(item)) for item in items[skip:]]

    def _owners_profiles(self, owner: str) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "KeyConditionExpression": "#owner = :owner",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":owner": {"S": owner}},
            "ScanIndexForward": False,  # newest first: ids sort by creation time
            "ConsistentRead": True,
        }

    @staticmethod
    def _key(owner: str, profile_id: str) -> dict[str, Any]:
        return {"owner": {"S": owner}, "profile_id": {"S": profile_id}}
