"""Benchmark on the local stack (not a test): submit → first step, throughput, AWS counts.

    .venv/bin/python -m tests.bench.bench_local_stack --first-step 3 --cost
    .venv/bin/python -m tests.bench.bench_local_stack --concurrency 8 --throughput 1,2,4,8

The stack is ``browser-tasks local``'s own ``LocalStack``, run in this process so that each
Lambda invocation can be timed (the worker still runs in its own process with its Chromium);
the model is the scripted one and the pages are the local test site's. Prints one JSON line.

- ``--first-step N``: N tasks, one at a time (after one warm-up task, as a warm Lambda
  container would serve them): POST /run-task → the first step record in DynamoDB; and, in
  alternation, the bare library: Agent + BrowserSession started → its first step ended.
- ``--throughput 1,2,4,8``: batches of n tasks submitted at once (5 steps each): the batch's
  wall time and each task's submit → terminal time. Needs ``--concurrency`` ≥ the largest n.
- ``--cost``: a 2-step and a 10-step task, each alone, with moto's request recorder on: every
  AWS request the functions and moto's Step Functions engine made, each Lambda invocation's
  duration, and the execution's state transitions (see ``tests.bench.cost_model``).
"""

import argparse
import asyncio
import json
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import requests

from tests.bench.bench_worker_steps import bare_browser_profile
from tests.conftest import PROJECT_ROOT
from tests.fakes import ScriptedLLM, TestSite
from tests.local_stack_process import OPERATOR_VARIABLES, free_port

API_KEY = "bt_local_bench_key_0123456789abcdef"
# The bench's own reads of AWS (waiting for tasks) use this key: the cost count leaves them out.
BENCH_ACCESS_KEY = "benchpoll"
TERMINAL = frozenset({"finished", "failed", "stopped"})
_STEPS_IN_TASK = re.compile(r"Visit (\d+) pages")


def task_text(steps: int) -> str:
    return f"Visit {steps} pages, one a step, then say done"


def scripted_pages(site: TestSite) -> Callable[[dict[str, Any], int], Any]:
    """The script for every task at once: a task's text says how many steps it has, the
    request says which step the agent is on, so tasks running side by side get their own."""
    from tests.fakes.scripted_llm import agent_step_number

    def script(request: dict[str, Any], _served: int) -> Any:
        steps = int(_STEPS_IN_TASK.findall(json.dumps(request))[0])
        number = agent_step_number(request) or 1
        if number >= steps:
            return [{"done": {"text": "Visited every page", "success": True}}]
        return [{"navigate": {"url": site.url(f"/page?title=Page+{number}&text=Step+{number}")}}]

    return script


class Client:
    """The API over HTTP (what a caller does) and, for waiting, AWS read directly with
    ``BENCH_ACCESS_KEY`` (so that waiting adds no API call nor counted AWS request)."""

    def __init__(self, api_url: str, aws_endpoint: str, resources: dict[str, str]) -> None:
        self.api_url = api_url
        self.aws_endpoint = aws_endpoint
        self.resources = resources
        self._headers = {"Authorization": f"Bearer {API_KEY}"}
        self._dynamodb = self._aws("dynamodb", aws_endpoint)
        self.stepfunctions = self._aws("stepfunctions", aws_endpoint)

    @staticmethod
    def _aws(service: str, endpoint: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=BENCH_ACCESS_KEY,
            aws_secret_access_key="local",
        )

    def submit(self, steps: int) -> str:
        body = {"task": task_text(steps), "max_agent_steps": steps + 2}
        response = requests.post(
            f"{self.api_url}/run-task", json=body, headers=self._headers, timeout=30
        )
        response.raise_for_status()
        return str(response.json()["id"])

    def read_task(self, task_id: str) -> dict[str, Any]:
        response = requests.get(f"{self.api_url}/task/{task_id}", headers=self._headers, timeout=30)
        response.raise_for_status()
        return dict(response.json())

    def status(self, task_id: str) -> str:
        item = self._dynamodb.get_item(
            TableName=self.resources["TasksTable"], Key={"task_id": {"S": task_id}}
        )["Item"]
        return str(item["status"]["S"])

    def has_steps(self, task_id: str) -> bool:
        answer = self._dynamodb.query(
            TableName=self.resources["StepsTable"],
            KeyConditionExpression="task_id = :t",
            ExpressionAttributeValues={":t": {"S": task_id}},
            Select="COUNT",
        )
        return int(answer["Count"]) > 0

    def wait_until(self, condition: Callable[[], bool], timeout: float = 300) -> float:
        """Poll ``condition`` every 20 ms; the monotonic time it first held."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the stack did not get there in time")
            time.sleep(0.02)
        return time.monotonic()

    def execution(self, task_id: str) -> dict[str, Any]:
        pages = self.stepfunctions.get_paginator("list_executions").paginate(
            stateMachineArn=self.resources["TaskStateMachine"]
        )
        for page in pages:
            for execution in page["executions"]:
                if execution["name"] == task_id:
                    return dict(execution)
        raise LookupError(f"no execution named {task_id}")

    def state_transitions(self, execution_arn: str) -> int:
        """States entered: what a Standard workflow bills as transitions."""
        pages = self.stepfunctions.get_paginator("get_execution_history").paginate(
            executionArn=execution_arn
        )
        return sum(
            1 for page in pages for event in page["events"] if event["type"].endswith("Entered")
        )


@contextmanager
def local_stack(llm: ScriptedLLM, concurrency: int) -> Iterator[tuple[Client, list[Any]]]:
    """The local stack, each Lambda invocation timed into the list it yields beside."""
    from browser_tasks.local.lambda_runtime import ContainerFunction, InProcessFunction
    from browser_tasks.local.stack import LocalStack, LocalStackConfig

    invocations: list[tuple[str, float]] = []
    for kind in (ContainerFunction, InProcessFunction):
        original = kind.invoke

        def timed(self: Any, event: dict[str, Any], original: Any = original) -> Any:
            start = time.perf_counter()
            try:
                return original(self, event)
            finally:
                invocations.append((self.spec.logical_id, time.perf_counter() - start))

        kind.invoke = timed  # type: ignore[method-assign]
    for name in OPERATOR_VARIABLES:  # only the scripted model answers, no proxy in between
        os.environ.pop(name, None)
    stack = LocalStack(
        LocalStackConfig(
            project_root=PROJECT_ROOT,
            port=free_port(),
            aws_port=free_port(),
            api_key=API_KEY,
            owner="bench",
            extra_environment={"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "sk-scripted"},
            # Warnings only, as in the other benches: what is timed is the work, not its logs.
            parameter_overrides={"LogLevel": "WARNING"},
            worker_concurrency=concurrency,
        )
    )
    try:
        stack.start()
        yield Client(stack.api_url, stack.config.aws_endpoint, stack.resources), invocations
    finally:
        stack.stop()


def run_task_to_end(client: Client, steps: int) -> str:
    task_id = client.submit(steps)
    client.wait_until(lambda: client.status(task_id) in TERMINAL)
    return task_id


def _first_step_recorded(client: Client, task_id: str) -> float:
    """When the task's first step record appeared; returns once the task has ended."""
    recorded = client.wait_until(lambda: client.has_steps(task_id))
    client.wait_until(lambda: client.status(task_id) in TERMINAL)
    return recorded


def first_step(client: Client, llm: ScriptedLLM, site: TestSite, rounds: int) -> dict[str, Any]:
    ours: list[float] = []
    bare: list[float] = []
    run_task_to_end(client, 2)  # warm-up: the worker's container starts and imports once
    for _ in range(rounds):
        start = time.monotonic()
        ours.append(_first_step_recorded(client, client.submit(2)) - start)
        bare.append(bare_first_step(llm.base_url, Path(tempfile.mkdtemp())))
    return {"ours": ours, "bare": bare}


def bare_first_step(llm_url: str, workdir: Path) -> float:
    """The library as a user runs it: session and Agent made, run → its first step's end."""
    from browser_use import Agent, BrowserSession, ChatOpenAI

    async def go() -> float:
        start = time.monotonic()
        session = BrowserSession(browser_profile=bare_browser_profile(workdir))
        agent: Any = Agent(
            task=task_text(2),
            llm=ChatOpenAI(model="gpt-4.1", base_url=llm_url, api_key="bench"),
            browser_session=session,
            use_judge=False,
            enable_signal_handler=False,
            file_system_path=str(workdir / "fs"),
        )
        first_step_end: list[float] = []

        async def on_step_end(_: Any) -> None:
            first_step_end.append(time.monotonic())

        history = await agent.run(max_steps=4, on_step_end=on_step_end)
        await session.kill()
        assert history.is_done(), history.errors()
        return first_step_end[0] - start

    return asyncio.run(go())


def throughput(client: Client, batches: list[int], steps: int) -> dict[str, Any]:
    # Warm-up: every worker instance starts its container once, as warm Lambdas would be.
    warm = [client.submit(2) for _ in range(max(batches))]
    client.wait_until(lambda: all(client.status(t) in TERMINAL for t in warm), timeout=600)
    results: dict[str, Any] = {}
    for n in batches:
        start = time.monotonic()
        ids = [client.submit(steps) for _ in range(n)]
        ended: dict[str, float] = {}
        statuses: dict[str, str] = {}

        def all_ended(
            ids: list[str] = ids,
            ended: dict[str, float] = ended,
            statuses: dict[str, str] = statuses,
        ) -> bool:
            for task_id in ids:
                if task_id not in ended:
                    status = client.status(task_id)
                    if status in TERMINAL:
                        ended[task_id], statuses[task_id] = time.monotonic(), status
            return len(ended) == len(ids)

        client.wait_until(all_ended, timeout=900)
        results[str(n)] = {
            "wall": max(ended.values()) - start,
            "per_task": [ended[t] - start for t in ids],
            "statuses": sorted(statuses.values()),
        }
    return results


def cost_counts(
    client: Client, invocations: list[tuple[str, float]], steps: int, recording: Path
) -> dict[str, Any]:
    """One task of ``steps`` steps, alone on the stack, with every AWS request recorded."""
    from tests.bench.cost_model import count_task, parse_recording

    recorder = f"{client.aws_endpoint}/moto-api/recorder"
    requests.post(f"{recorder}/reset-recording", timeout=10).raise_for_status()
    invocations.clear()
    requests.post(f"{recorder}/start-recording", timeout=10).raise_for_status()
    task_id = run_task_to_end(client, steps)
    client.read_task(task_id)  # the caller reads the result once
    # Done when the execution has ended and the worker's invocation has returned.
    client.wait_until(
        lambda: (
            client.execution(task_id)["status"] != "RUNNING"
            and any(name == "AgentWorkerFunction" for name, _ in invocations)
        )
    )
    time.sleep(0.5)  # the poller deletes the message once the invocation returns
    requests.post(f"{recorder}/stop-recording", timeout=10).raise_for_status()
    counts = count_task(
        parse_recording(recording.read_text().splitlines()),
        list(invocations),
        client.state_transitions(client.execution(task_id)["executionArn"]),
        ignore_access_key=BENCH_ACCESS_KEY,
    )
    recording.unlink()  # it holds request bodies (checkpoints on their way to KMS)
    return {"status": client.status(task_id), "counts": counts.to_json()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--first-step", type=int, default=0, metavar="ROUNDS")
    parser.add_argument("--throughput", default="", metavar="N,N,...")
    parser.add_argument("--throughput-steps", type=int, default=5)
    parser.add_argument("--cost", action="store_true")
    args = parser.parse_args()
    recording = Path(tempfile.mkdtemp()) / "moto_recording"
    # Read when moto is imported: the recorder stays off until the cost run turns it on.
    os.environ["MOTO_RECORDER_FILEPATH"] = str(recording)
    results: dict[str, Any] = {}
    with ScriptedLLM() as llm, TestSite() as site:
        llm.set_script(scripted_pages(site))
        with local_stack(llm, args.concurrency) as (client, invocations):
            if args.first_step:
                results["first_step"] = first_step(client, llm, site, args.first_step)
            if args.throughput:
                batches = [int(n) for n in args.throughput.split(",")]
                results["throughput"] = throughput(client, batches, args.throughput_steps)
            if args.cost:
                results["cost"] = {
                    str(steps): cost_counts(client, invocations, steps, recording)
                    for steps in (2, 10)
                }
    for name, figures in results.items():
        if name == "first_step":
            for kind, values in figures.items():
                print(f"  first step, {kind}: median {statistics.median(values):.2f} s")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
