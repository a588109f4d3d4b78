"""The sweep itself: a canary planted in a store, as is or base64-encoded, is found (a sweep
that finds nothing because it reads nothing would pass every run)."""

import base64
from pathlib import Path

import boto3
import pytest

from tests.reliability.canary import CanarySweep
from tests.reliability.counts import CANARY
from tests.support import in_process_stack


def test_a_planted_canary_is_found_as_is_and_base64_encoded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sweep = CanarySweep(tmp_path)  # not the session's: these plants are removed again
    with in_process_stack(monkeypatch) as stack:
        table = stack.environment["TASKS_TABLE"]
        bucket = boto3.client("s3").list_buckets()["Buckets"][0]["Name"]
        dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
        dynamodb.put_item(
            TableName=table, Item={"task_id": {"S": "planted"}, "note": {"S": f"x{CANARY}y"}}
        )
        encoded = base64.b64encode(b"\x01\x02" + CANARY.encode() + b"!").decode()
        s3.put_object(Bucket=bucket, Key="planted.txt", Body=encoded.encode())
        try:
            sweep.sweep_in_process_stack(stack)
        finally:  # the session's sweep reads this stack too, as it stops
            dynamodb.delete_item(TableName=table, Key={"task_id": {"S": "planted"}})
            s3.delete_object(Bucket=bucket, Key="planted.txt")

    assert sweep.texts_read > 2
    assert len(sweep.hits) == 2, sweep.hits
    assert any("dynamodb" in hit for hit in sweep.hits)
    assert any("planted.txt" in hit for hit in sweep.hits)
