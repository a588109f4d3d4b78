"""The bench's cost model: counting recorded AWS requests and pricing them (fixed counts).

Given moto recorder lines and Lambda durations, then the bench's own reads and the local
stack's machinery are left out, DynamoDB units follow request sizes, a 75-step task is the
10-step one plus 65 times the per-step difference, and the dollars are the list prices times
the counts.
"""

import json

import pytest

from tests.bench import cost_model
from tests.bench.cost_model import TaskCounts, count_task, extrapolate, parse_recording


def _line(
    service: str, target: str = "", method: str = "POST", key: str = "local", body: str = ""
) -> str:
    headers = {
        "Authorization": f"AWS4-HMAC-SHA256 Credential={key}/20261130/us-east-1/{service}/aws4_request, SignedHeaders=host",
        **({"X-Amz-Target": target} if target else {}),
    }
    return json.dumps({"headers": headers, "method": method, "url": "http://x/b/k", "body": body})


def test_requests_are_counted_by_service_and_operation_less_the_bench_and_local_machinery() -> None:
    lines = [
        _line("dynamodb", "DynamoDB_20120810.PutItem", body="x" * 1500),  # 2 write units
        _line("dynamodb", "DynamoDB_20120810.GetItem"),
        _line("dynamodb", "DynamoDB_20120810.GetItem", key="benchpoll"),  # the bench waiting
        _line("states", "AWSStepFunctions.ListExecutions"),  # the local execution watch
        _line("sqs", "AmazonSQS.ReceiveMessage"),  # a poller's receive: replaced below
        _line("s3", method="PUT"),
        _line("kms", "TrentService.GenerateDataKey"),
        "",
    ]
    counts = count_task(
        parse_recording(lines),
        [("AgentWorkerFunction", 2.0), ("AgentWorkerFunction", 1.0), ("ApiFunction", 0.1)],
        state_transitions=12,
        ignore_access_key="benchpoll",
    )
    assert counts.requests == {
        ("dynamodb", "PutItem"): 1,
        ("dynamodb", "GetItem"): 1,
        ("s3", "PutObject"): 1,
        ("kms", "GenerateDataKey"): 1,
        ("sqs", "ReceiveMessage"): 2,  # one per worker invocation
    }
    assert (counts.dynamodb_write_units, counts.dynamodb_read_units) == (2, 1)
    assert counts.lambda_seconds == {"AgentWorkerFunction": 3.0, "ApiFunction": 0.1}
    assert counts.lambda_invocations == {"AgentWorkerFunction": 2, "ApiFunction": 1}
    assert TaskCounts.from_json(json.loads(json.dumps(counts.to_json()))) == counts


def _counts(puts: float, worker_seconds: float) -> TaskCounts:
    return TaskCounts(
        lambda_seconds={"AgentWorkerFunction": worker_seconds, "ApiFunction": 0.2},
        lambda_invocations={"AgentWorkerFunction": 1, "ApiFunction": 2},
        requests={("s3", "PutObject"): puts, ("kms", "Encrypt"): 1},
        dynamodb_write_units=puts,
        dynamodb_read_units=4,
        state_transitions=12,
    )


def test_a_longer_task_adds_the_measured_per_step_difference_to_the_measured_task() -> None:
    two, ten = _counts(puts=4, worker_seconds=3.0), _counts(puts=20, worker_seconds=7.0)
    longer = extrapolate(two, 2, ten, 10, 75)
    assert longer.requests[("s3", "PutObject")] == pytest.approx(20 + 65 * 2)
    assert longer.requests[("kms", "Encrypt")] == pytest.approx(1)  # fixed: does not grow
    assert longer.lambda_seconds["AgentWorkerFunction"] == pytest.approx(7.0 + 65 * 0.5)
    assert longer.state_transitions == pytest.approx(12)
    assert extrapolate(two, 2, ten, 10, 10) == ten


def test_the_price_is_the_list_prices_times_the_counts_at_the_configured_memory() -> None:
    cost = cost_model.per_task_cost(
        _counts(puts=20, worker_seconds=10.0),
        memory_mb={"AgentWorkerFunction": 3072, "ApiFunction": 512},
        ephemeral_mb={"AgentWorkerFunction": 2048},
    )
    assert cost.lambda_compute == pytest.approx(
        10.0 * (3 * cost_model.LAMBDA_GB_SECOND + 1.5 * cost_model.LAMBDA_EPHEMERAL_GB_SECOND)
        + 0.2 * 0.5 * cost_model.LAMBDA_GB_SECOND
    )
    assert cost.lambda_requests == pytest.approx(3 * 0.20 / 1e6)
    assert cost.api_gateway == pytest.approx(2 * 3.50 / 1e6)
    assert cost.step_functions == pytest.approx(12 * 0.025 / 1000)
    assert cost.dynamodb == pytest.approx(20 * 0.625 / 1e6 + 4 * 0.125 / 1e6)
    assert cost.s3 == pytest.approx(20 * 0.005 / 1000)
    assert cost.kms == pytest.approx(0.03 / 10000)
    assert cost.total == pytest.approx(sum(vars(cost).values()))


def test_a_figure_lower_for_the_longer_task_is_noise_and_stays_fixed() -> None:
    two, ten = _counts(puts=4, worker_seconds=3.0), _counts(puts=20, worker_seconds=7.0)
    noisy_ten = TaskCounts(
        **{**vars(ten), "lambda_seconds": {**ten.lambda_seconds, "ApiFunction": 0.1}}
    )
    assert extrapolate(two, 2, noisy_ten, 10, 75).lambda_seconds["ApiFunction"] == pytest.approx(
        0.1
    )
