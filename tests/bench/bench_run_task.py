"""Benchmark: run-task handler latency against in-process moto (not a test; prints figures).

    .venv/bin/python -m tests.bench.bench_run_task [--calls 300] [--json]

Each call is the real ApiFunction handler on a REST proxy event: validate, authenticate (one
DynamoDB read), envelope-encrypt secrets (KMS), conditional put, the ``created`` status event
(PutEvents: moto evaluates the bus's rules, ~20 ms of it), StartExecution. Executions
are recorded but not run (moto's engine off), so only the API's own work is timed. Also times
the bare AWS calls the handler makes (same moto, same item sizes) as the baseline, and the
peak PSS of this process serving them (the API function's memory, plus in-process moto's).
"""

import argparse
import contextlib
import io
import json
import platform
import statistics
import time
from collections.abc import Callable

import boto3
import pytest

from browser_tasks.adapters.kms_cipher import KmsSecretsCipher
from tests.bench import quiet_powertools
from tests.bench.bench_worker_steps import PeakMemory
from tests.conftest import ALICE_KEY
from tests.support import in_process_stack

BODY = {
    "task": "Go to https://example.com, log in with x_user / x_pass and return the page title",
    "secrets": {"x_user": "alice", "x_pass": "correct horse battery staple"},
    "allowed_domains": ["example.com", "*.example.com"],
    "structured_output_json": json.dumps(
        {"type": "object", "properties": {"title": {"type": "string"}}}
    ),
    "max_agent_steps": 20,
    "metadata": {"team": "bench"},
}


def _time_interleaved(
    calls: int, operations: dict[str, Callable[[int], None]]
) -> dict[str, list[float]]:
    """Alternate the operations call by call, so drift (moto's growing tables, the other
    core's load) weighs on each alike."""
    timings: dict[str, list[float]] = {name: [] for name in operations}
    for number in range(-10, calls):  # ten warm-up rounds, not kept
        for name, operation in operations.items():
            start = time.perf_counter()
            operation(number)
            if number >= 0:
                timings[name].append((time.perf_counter() - start) * 1000)
    return timings


def _summary(name: str, timings: list[float]) -> str:
    ordered = sorted(timings)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"| {name} | {len(timings)} | {statistics.median(timings):.2f} | {p95:.2f} | {p99:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="one JSON line, not the table")
    args = parser.parse_args()
    calls = args.calls
    with pytest.MonkeyPatch.context() as monkeypatch:
        quiet_powertools(monkeypatch)
        with in_process_stack(monkeypatch) as stack:

            def run_task(_: int) -> None:
                response = stack.call("POST", "/api/v1/run-task", body=BODY, key=ALICE_KEY)
                assert response.status == 200, response.text

            env = stack.environment
            dynamodb = boto3.client("dynamodb")
            sfn = boto3.client("stepfunctions")
            events = boto3.client("events")
            cipher = KmsSecretsCipher(env["SECRETS_KEY_ARN"])
            secrets = json.dumps(BODY["secrets"])

            def bare_calls(number: int) -> None:
                task_id = f"bare_{number + 10}"
                dynamodb.get_item(TableName=env["API_KEYS_TABLE"], Key={"key_hash": {"S": "x"}})
                ciphertext = cipher.encrypt(secrets, {"task_id": task_id, "owner": "alice"})
                dynamodb.put_item(
                    TableName=env["TASKS_TABLE"],
                    Item={
                        "task_id": {"S": task_id},
                        "task": {"S": str(BODY["task"])},
                        "secrets_ciphertext": {"S": ciphertext},
                    },
                    ConditionExpression="attribute_not_exists(task_id)",
                )
                # The "created" status event, on the same bus and rules as the handler's.
                detail = {"task_id": task_id, "owner": "alice", "status": "created"}
                events.put_events(
                    Entries=[
                        {
                            "Source": "browser-tasks",
                            "DetailType": "TaskStatusChanged",
                            "Detail": json.dumps({**detail, "metadata": {}, "timestamp": "x"}),
                            "EventBusName": env["EVENT_BUS_NAME"],
                        }
                    ]
                )
                sfn.start_execution(
                    stateMachineArn=env["STATE_MACHINE_ARN"], name=task_id, input="{}"
                )

            with contextlib.redirect_stdout(io.StringIO()), PeakMemory() as memory:  # EMF lines
                timings = _time_interleaved(calls, {"handler": run_task, "bare": bare_calls})
            handler, bare = timings["handler"], timings["bare"]

    if args.json:
        print(json.dumps({"handler_ms": handler, "bare_ms": bare, "peak_mib": memory.peak_mib}))
        return

    print(
        f"run-task latency, in-process moto — {platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )
    print("| what | calls | median ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|")
    print(_summary("run-task handler (end to end)", handler))
    print(_summary("bare AWS calls it makes (baseline)", bare))
    print(f"ratio of medians: {statistics.median(handler) / statistics.median(bare):.2f}")


if __name__ == "__main__":
    main()
