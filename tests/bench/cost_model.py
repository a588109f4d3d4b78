"""What a task costs on AWS, from the AWS requests and Lambda durations a run made.

Counts come from moto's request recorder (every request the local stack's functions and
moto's Step Functions engine made while one task ran); durations from timing each local
Lambda invocation. ``per_task_cost`` prices them with us-east-1 list prices.

Excluded, and named where the table is printed: LLM tokens (the operator's provider bill),
CloudWatch Logs/metrics, X-Ray, storage (S3, DynamoDB) over time, data transfer, free tiers.
"""

import base64
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# us-east-1 on-demand list prices in USD, from aws.amazon.com/<service>/pricing as the author
# knew them in 2025 (DynamoDB after its November 2024 on-demand cut); not fetched by the bench.
PRICES_AS_OF = "as published on aws.amazon.com/<service>/pricing in 2025"
LAMBDA_GB_SECOND = 0.0000166667  # x86_64
LAMBDA_REQUEST = 0.20 / 1e6
LAMBDA_EPHEMERAL_GB_SECOND = 0.0000000309  # storage configured over the free 512 MB
API_GATEWAY_REST_REQUEST = 3.50 / 1e6
STEP_FUNCTIONS_TRANSITION = 0.025 / 1000  # Standard workflows
DYNAMODB_WRITE_UNIT = 0.625 / 1e6  # on-demand write request unit
DYNAMODB_READ_UNIT = 0.125 / 1e6  # on-demand read request unit
S3_PUT = 0.005 / 1000  # PUT, COPY, POST, LIST
S3_GET = 0.0004 / 1000  # GET and all other requests
KMS_REQUEST = 0.03 / 10000
SQS_REQUEST = 0.40 / 1e6  # standard queue, per 64 KB chunk
EVENTBRIDGE_EVENT = 1.00 / 1e6  # custom events put
SCHEDULER_INVOCATION = 1.00 / 1e6

# The local stack's own machinery, which AWS does with no request of ours: the execution watch
# (an EventBridge rule on AWS) listing executions, the local scheduler reading schedules, and
# the pollers' empty receives (Lambda's event source mapping polls each queue all the time,
# a standing cost of the queue, not of a task: one receive per invocation is added instead).
LOCAL_MACHINERY = frozenset(
    {
        ("states", "ListExecutions"),
        ("states", "DescribeExecution"),
        ("states", "GetExecutionHistory"),
        ("scheduler", "GET schedules"),
        ("scheduler", "GetSchedule"),
        ("sqs", "ReceiveMessage"),
        ("sqs", "GetQueueAttributes"),
        ("sqs", "GetQueueUrl"),
    }
)
DYNAMODB_WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
DYNAMODB_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})


@dataclass(frozen=True)
class AwsRequest:
    service: str  # the SigV4 credential scope's service: dynamodb, s3, kms, sqs, ...
    operation: str  # PutItem, Encrypt, ... (S3: PutObject/GetObject/... from the method)
    access_key: str
    body_bytes: int


def parse_recording(lines: Iterable[str]) -> list[AwsRequest]:
    """moto's recorder file (one JSON request a line) → the requests, in order."""
    requests = []
    for line in lines:
        if not line.strip():
            continue
        entry = json.loads(line)
        headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
        scope = headers.get("authorization", "").split("Credential=", 1)[-1].split(",")[0]
        parts = scope.split("/")  # AKID/date/region/service/aws4_request
        if len(parts) < 4:
            continue  # not an AWS API call (moto's own endpoints)
        service = parts[3]
        target = headers.get("x-amz-target", "")
        if target:
            operation = target.rsplit(".", 1)[-1]
        elif service == "s3":
            operation = {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject"}.get(
                entry["method"], entry["method"].title() + "Object"
            )
        else:  # REST-JSON services (scheduler, lambda): the method and the path say it
            operation = f"{entry['method']} {entry['url'].split('?')[0].split('/', 3)[-1]}"
        body = entry.get("body") or ""
        size = len(base64.b64decode(body)) if entry.get("body_encoded") else len(body)
        requests.append(AwsRequest(service, operation, parts[0], size))
    return requests


@dataclass(frozen=True)
class TaskCounts:
    """What one task made AWS do (or what the model extrapolates it would)."""

    lambda_seconds: Mapping[str, float]  # function → summed invocation seconds
    lambda_invocations: Mapping[str, float]
    requests: Mapping[tuple[str, str], float]  # (service, operation) → count
    dynamodb_write_units: float
    dynamodb_read_units: float
    state_transitions: float  # extrapolated figures are not whole

    def to_json(self) -> dict[str, Any]:
        return {
            **vars(self),
            "requests": {f"{s}:{o}": n for (s, o), n in self.requests.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TaskCounts":
        requests = {tuple(k.split(":", 1)): n for k, n in data["requests"].items()}
        return cls(**{**data, "requests": requests})


def linear(*terms: tuple[float, TaskCounts]) -> TaskCounts:
    """The sum of factor * counts, figure by figure: per step = (long - short) / extra steps, and a
    task of n steps = fixed part + n * per-step part."""

    def total(part: Any) -> dict[Any, float]:
        keys = {key for _, counts in terms for key in part(counts)}
        return {k: sum(f * part(c).get(k, 0) for f, c in terms) for k in keys}

    return TaskCounts(
        lambda_seconds=total(lambda c: c.lambda_seconds),
        lambda_invocations=total(lambda c: c.lambda_invocations),
        requests=total(lambda c: c.requests),
        dynamodb_write_units=sum(f * c.dynamodb_write_units for f, c in terms),
        dynamodb_read_units=sum(f * c.dynamodb_read_units for f, c in terms),
        state_transitions=sum(f * c.state_transitions for f, c in terms),
    )


def extrapolate(
    short: TaskCounts, short_steps: int, long: TaskCounts, long_steps: int, steps: int
) -> TaskCounts:
    """A ``steps``-step task from two measured ones: their difference is what the extra steps
    added, the rest is fixed (submit, start, finish). A step adds nothing negative: a figure
    that came out lower for the longer task (the API's few milliseconds, noise) stays fixed."""
    extra = long_steps - short_steps
    difference = linear((1 / extra, long), (-1 / extra, short))
    each_step = TaskCounts(
        lambda_seconds={k: max(0.0, v) for k, v in difference.lambda_seconds.items()},
        lambda_invocations={k: max(0.0, v) for k, v in difference.lambda_invocations.items()},
        requests={k: max(0.0, v) for k, v in difference.requests.items()},
        dynamodb_write_units=max(0.0, difference.dynamodb_write_units),
        dynamodb_read_units=max(0.0, difference.dynamodb_read_units),
        state_transitions=max(0.0, difference.state_transitions),
    )
    return linear((1, long), (steps - long_steps, each_step))


def count_task(
    requests: Iterable[AwsRequest],
    invocations: Iterable[tuple[str, float]],
    state_transitions: int,
    ignore_access_key: str,
) -> TaskCounts:
    """The requests (less the bench's own, made with ``ignore_access_key``, and the local
    machinery's) and the ``(function, seconds)`` invocations of one task.

    DynamoDB units are estimated: a write is one unit per started KB of its request (the item
    it writes is about that size), a read one unit per request (the items here are small).
    Writes to the tables' indexes are not counted."""
    counted: Counter[tuple[str, str]] = Counter()
    write_units = read_units = 0.0
    for request in requests:
        key = (request.service, request.operation)
        if request.access_key == ignore_access_key or key in LOCAL_MACHINERY:
            continue
        counted[key] += 1
        if request.service == "dynamodb" and request.operation in DYNAMODB_WRITES:
            write_units += max(1, math.ceil(request.body_bytes / 1024))
        elif request.service == "dynamodb" and request.operation in DYNAMODB_READS:
            read_units += 1
    seconds: dict[str, float] = {}
    calls: Counter[str] = Counter()
    for function, duration in invocations:
        seconds[function] = seconds.get(function, 0.0) + duration
        calls[function] += 1
    for function in ("AgentWorkerFunction", "NotifierFunction", "TriggerFunction"):
        if calls[function]:  # the receive that handed each SQS-fed invocation its message
            counted[("sqs", "ReceiveMessage")] += calls[function]
    return TaskCounts(
        seconds, dict(calls), dict(counted), write_units, read_units, state_transitions
    )


@dataclass(frozen=True)
class CostBreakdown:
    lambda_compute: float
    lambda_requests: float
    api_gateway: float
    step_functions: float
    dynamodb: float
    s3: float
    kms: float
    sqs: float
    eventbridge: float

    @property
    def total(self) -> float:
        return float(sum(vars(self).values()))


def per_task_cost(
    counts: TaskCounts, memory_mb: Mapping[str, int], ephemeral_mb: Mapping[str, int]
) -> CostBreakdown:
    """USD for one task; ``memory_mb``/``ephemeral_mb``: each function's configured sizes."""
    compute = sum(
        seconds
        * (
            memory_mb[f] / 1024 * LAMBDA_GB_SECOND
            + max(0, ephemeral_mb.get(f, 512) - 512) / 1024 * LAMBDA_EPHEMERAL_GB_SECOND
        )
        for f, seconds in counts.lambda_seconds.items()
    )

    def requests_of(service: str, operations: frozenset[str] | None = None) -> float:
        return sum(
            n
            for (s, o), n in counts.requests.items()
            if s == service and (operations is None or o in operations)
        )

    s3_gets = requests_of("s3", frozenset({"GetObject", "HeadObject"}))
    return CostBreakdown(
        lambda_compute=compute,
        lambda_requests=sum(counts.lambda_invocations.values()) * LAMBDA_REQUEST,
        api_gateway=counts.lambda_invocations.get("ApiFunction", 0) * API_GATEWAY_REST_REQUEST,
        step_functions=counts.state_transitions * STEP_FUNCTIONS_TRANSITION,
        dynamodb=counts.dynamodb_write_units * DYNAMODB_WRITE_UNIT
        + counts.dynamodb_read_units * DYNAMODB_READ_UNIT,
        s3=(requests_of("s3") - s3_gets) * S3_PUT + s3_gets * S3_GET,
        kms=requests_of("kms") * KMS_REQUEST,
        sqs=requests_of("sqs") * SQS_REQUEST,
        eventbridge=requests_of("events") * EVENTBRIDGE_EVENT
        + requests_of("scheduler") * SCHEDULER_INVOCATION,
    )
