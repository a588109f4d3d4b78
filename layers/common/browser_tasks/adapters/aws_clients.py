"""boto3 clients, created on first use and shared by the process.

Clients (not resources) because they are thread-safe: the local stack runs several functions
in one process. ``AWS_ENDPOINT_URL`` (set by the local stack) redirects every client to moto.
"""

import threading
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_stepfunctions import SFNClient

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5)
# botocore still presigns S3 URLs with SigV2 in us-east-1, which S3 refuses for buckets made
# since mid-2020; SigV4 also carries the expiry the URL was asked for (X-Amz-Expires).
_SERVICE_CONFIG = {"s3": _CONFIG.merge(Config(signature_version="s3v4"))}
_session_lock = threading.Lock()


@cache
def _client(service: str) -> Any:
    with _session_lock:  # building a session is not thread-safe; using a client is
        return boto3.session.Session().client(  # type: ignore[call-overload]
            service, config=_SERVICE_CONFIG.get(service, _CONFIG)
        )


def dynamodb() -> "DynamoDBClient":
    return _client("dynamodb")  # type: ignore[no-any-return]


def events() -> "EventBridgeClient":
    return _client("events")  # type: ignore[no-any-return]


def kms() -> "KMSClient":
    return _client("kms")  # type: ignore[no-any-return]


def stepfunctions() -> "SFNClient":
    return _client("stepfunctions")  # type: ignore[no-any-return]


def s3() -> "S3Client":
    return _client("s3")  # type: ignore[no-any-return]


def scheduler() -> "EventBridgeSchedulerClient":
    return _client("scheduler")  # type: ignore[no-any-return]


def sqs() -> "SQSClient":
    return _client("sqs")  # type: ignore[no-any-return]


def ssm() -> "SSMClient":
    return _client("ssm")  # type: ignore[no-any-return]


def reset_clients() -> None:
    """Forget every client (tests switch endpoints and credentials between cases)."""
    _client.cache_clear()
