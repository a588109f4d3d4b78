"""Load and faults on one ``browser-tasks local``: 200 run-task requests from concurrent
clients, then a worker killed mid-step, a chunk message delivered again, Chromium crashing
under a step, and a model server answering 500s or garbage. Real Chromium, the real Agent,
moto's executing Step Functions; only the model is scripted.

Every task plants the canary secret. After each fault the task must have ended with a reason,
with its steps recorded once each, and nothing of it left running: no execution, no queued or
in-flight chunk, no Chromium. Every process the stack starts inherits a marker variable, so
what it leaves behind is found by the marker, not by name (other Chromiums may be running).

The stack ends a chunk after every 2 steps (``ChunkMaxSteps=2``) and retries a failed chunk
once (``MaxChunkRetries=1``), as tests/integration/test_workflow.py runs it. The duplicate
delivery runs on a second such stack with two workers: a copy of a message can reach another
worker while the first runs its chunk only where there is another worker.
"""

import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import psutil
import pytest
import requests

from tests.fakes import ScriptedLLM, TestSite
from tests.fakes.scripted_llm import agent_step_number
from tests.local_stack_process import local_stack_process
from tests.reliability.counts import CANARY_SECRETS, record_count
from tests.task_world import TERMINAL, TaskWorld

API_KEY = "bt_local_reliability_load_key_01234567"
PARAMETERS = {"ChunkMaxSteps": "2", "MaxChunkRetries": "1"}
STACK_MARK = "BROWSER_TASKS_RELIABILITY_STACK_MARK"

LOAD_REQUESTS = 200
LOAD_CLIENTS = 16
RUN_EVERY = 10  # every 10th task is left to run (20 of 200); the others are stopped at once
LOAD_TASK = re.compile(r"load-task-(\d{4})")


@dataclass
class StackUnderTest(TaskWorld):
    mark: str = ""
    stop_stack: Callable[[], None] = field(default=lambda: None)

    def processes(self) -> list[psutil.Process]:
        """Every live process the stack started (itself, its containers, their Chromiums)."""
        found = []
        for process in psutil.process_iter():
            try:
                if process.environ().get(STACK_MARK) == self.mark:
                    found.append(process)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def chromiums(self) -> list[psutil.Process]:
        found = []
        for process in self.processes():
            try:
                if "chrom" in process.name().lower():
                    found.append(process)
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
        return found

    def work_queue_url(self) -> str:
        urls = self.aws("sqs").list_queues()["QueueUrls"]
        return str(next(u for u in urls if "WorkQueue" in u and "DeadLetter" not in u))

    def messages_on_work_queue(self) -> int:
        attributes = self.aws("sqs").get_queue_attributes(
            QueueUrl=self.work_queue_url(),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())

    def execution_arns(self, status: str | None = None) -> dict[str, str]:
        """Task id → execution ARN, of the task state machine's executions (in ``status``)."""
        sfn = self.aws("stepfunctions")
        machine = next(
            m["stateMachineArn"]
            for m in sfn.list_state_machines()["stateMachines"]
            if "TaskStateMachine" in m["stateMachineArn"]
        )
        found: dict[str, str] = {}
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=machine, **({"statusFilter": status} if status else {})
        ):
            found.update({e["name"]: e["executionArn"] for e in page["executions"]})
        return found

    def all_tasks(self) -> dict[str, dict[str, Any]]:
        return {item["task_id"]: item for item in self._scan("TasksTable")}

    def all_steps(self) -> dict[str, list[int]]:
        """Task id → the step numbers stored for it, as stored (unsorted, duplicates kept)."""
        found: dict[str, list[int]] = {}
        for item in self._scan("StepsTable"):
            found.setdefault(item["task_id"], []).append(int(item["step"]))
        return found

    def _scan(self, table_kind: str) -> list[dict[str, Any]]:
        from browser_tasks.adapters.dynamodb_items import from_item

        dynamodb = self.aws("dynamodb")
        table = next(t for t in dynamodb.list_tables()["TableNames"] if table_kind in t)
        items = []
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            items += [from_item(i) for i in page["Items"]]
        return items


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still not so after {timeout} s: {what}"
        time.sleep(0.2)


def _stack_environment(llm: ScriptedLLM, mark: str) -> dict[str, str]:
    return {"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "sk-scripted", STACK_MARK: mark}


@pytest.fixture(scope="module")
def world() -> Iterator[StackUnderTest]:
    mark = uuid.uuid4().hex
    with ScriptedLLM() as llm, TestSite() as site, ExitStack() as running:
        stack = running.enter_context(
            local_stack_process(
                API_KEY, extra_env=_stack_environment(llm, mark), parameters=PARAMETERS
            )
        )
        # The last test stops the stack itself, to see what outlives it.
        yield StackUnderTest(stack, llm, site, mark=mark, stop_stack=running.close)


@pytest.fixture
def fresh(world: StackUnderTest) -> StackUnderTest:
    world.llm.reset()
    world.site.clear()
    return world


def submit(world: StackUnderTest, task: str) -> str:
    """A task carrying the canary secret; its id."""
    record_count("requests sent")
    record_count("tasks created")
    return world.submit({"task": task, "secrets": CANARY_SECRETS, "use_adblock": False})


def agent_requests_of(world: StackUnderTest, marker: str) -> list[dict[str, Any]]:
    return [r for r in world.llm.agent_requests if marker in json.dumps(r["messages"])]


def assert_ended_cleanly(world: StackUnderTest, task_id: str) -> dict[str, Any]:
    """The task is terminal with its steps 1..steps_count stored once each, and nothing of it
    is left running: no execution, no chunk on the work queue, no Chromium. Its item."""
    item = world.task_item(task_id)
    assert item["status"] in TERMINAL
    if item["status"] == "failed":
        assert item.get("failure_reason"), "a failed task must say why"
    numbers = sorted(int(s["step"]) for s in world.steps(task_id))
    assert numbers == list(range(1, int(item.get("steps_count", 0)) + 1))
    _wait_until(lambda: task_id not in world.execution_arns("RUNNING"), "execution ended")
    _wait_until(lambda: world.messages_on_work_queue() == 0, "work queue drained")
    _wait_until(lambda: not world.chromiums(), "no Chromium left", timeout=15)
    return item


# -- load -------------------------------------------------------------------------------------


def _load_script(world: StackUnderTest) -> Callable[[dict[str, Any], int], list[dict[str, Any]]]:
    """Two steps for every load task: open its own page, then answer with its number."""

    def script(request: dict[str, Any], _served: int) -> list[dict[str, Any]]:
        found = LOAD_TASK.search(json.dumps(request["messages"]))
        number = int(found.group(1)) if found else -1
        if agent_step_number(request) == 1:
            return [{"navigate": {"url": world.site.url(f"/page?title=Load+{number}")}}]
        return [{"done": {"text": f"load {number} done", "success": True}}]

    return script


@dataclass
class LoadAnswer:
    number: int
    status: int
    body: Any
    task_id: str | None = None
    stop_status: int | None = None
    stop_body: Any = None


def _is_v1_error(status: int, body: Any) -> bool:
    if not isinstance(body, dict) or set(body) != {"detail"}:
        return False
    if status == 422:
        return isinstance(body["detail"], list) and all(
            {"loc", "msg", "type"} <= set(d) for d in body["detail"]
        )
    return isinstance(body["detail"], str) and bool(body["detail"])


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


@pytest.mark.timeout(600)
def test_200_concurrent_run_tasks_all_end_with_none_lost_and_steps_once_each(
    fresh: StackUnderTest,
) -> None:
    fresh.llm.set_script(_load_script(fresh))
    headers = {"Authorization": f"Bearer {fresh.stack.api_key}"}

    def client(number: int) -> LoadAnswer:
        with requests.Session() as http:
            response = http.post(
                f"{fresh.stack.api_url}/run-task",
                json={
                    "task": f"Reliability load-task-{number:04d}: open your page and report.",
                    "secrets": CANARY_SECRETS,
                    "use_adblock": False,
                },
                headers=headers,
                timeout=60,
            )
            answer = LoadAnswer(number, response.status_code, _json(response))
            if response.status_code == 200:
                answer.task_id = str(answer.body["id"])
                if number % RUN_EVERY:  # stopped while it is created or queued
                    stop = http.put(
                        f"{fresh.stack.api_url}/stop-task",
                        params={"task_id": answer.task_id},
                        headers=headers,
                        timeout=60,
                    )
                    answer.stop_status, answer.stop_body = stop.status_code, _json(stop)
            return answer

    # When 200 run-task requests come from 16 clients at once (each non-running one stopped)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=LOAD_CLIENTS) as pool:
        answers = list(pool.map(client, range(LOAD_REQUESTS)))
    submitted_in = time.monotonic() - started
    accepted = {a.task_id: a for a in answers if a.task_id is not None}
    stops = [a for a in answers if a.stop_status is not None]
    record_count("requests sent", len(answers) + len(stops))
    record_count("tasks created", len(accepted))
    refused = [a for a in answers if a.status != 200]
    record_count("requests refused (4xx)", len(refused))

    # Then every request was answered: 200, or a 4xx in the v1 shape; never a 5xx
    statuses = Counter(a.status for a in answers) + Counter(a.stop_status for a in stops)
    assert all(a.status < 500 and _is_v1_error(a.status, a.body) for a in refused), refused[:3]
    # (a task may finish before its stop lands: that stop is a 409, still in the v1 shape)
    assert all(
        a.stop_status == 200 or (a.stop_status == 409 and _is_v1_error(409, a.stop_body))
        for a in stops
    ), [(a.stop_status, a.stop_body) for a in stops if a.stop_status != 200][:3]
    assert len(accepted) == LOAD_REQUESTS - len(refused)
    assert len(accepted) > 0.9 * LOAD_REQUESTS  # refusals (429s) are the exception

    # And every accepted task reaches a terminal status
    def unfinished() -> list[str]:
        tasks = fresh.all_tasks()
        return [t for t in accepted if tasks.get(t, {}).get("status") not in TERMINAL]

    deadline = time.monotonic() + 300
    while remaining := unfinished():
        assert time.monotonic() < deadline, f"{len(remaining)} tasks never ended: {remaining[:5]}"
        time.sleep(1)
    ended_in = time.monotonic() - started

    # And none was lost or invented: the table holds exactly the accepted ids
    tasks = fresh.all_tasks()
    load_ids = {t for t, item in tasks.items() if LOAD_TASK.search(item["task"])}
    assert load_ids == set(accepted)

    # And each task's steps are 1..n once each, as many as its count
    steps = fresh.all_steps()
    for task_id in accepted:
        numbers = steps.get(task_id, [])
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), (task_id, numbers)
        assert tasks[task_id].get("steps_count", 0) == len(numbers), task_id

    # And the tasks left to run ran exactly as scripted (so did any that finished before
    # its stop landed); a stopped task ended after the step it was on, before its last
    finished = [t for t in accepted if tasks[t]["status"] == "finished"]
    left_to_run = [t for t, a in accepted.items() if a.number % RUN_EVERY == 0]
    assert all(tasks[t]["status"] == "finished" for t in left_to_run)
    assert len(finished) >= LOAD_REQUESTS // RUN_EVERY
    assert {tasks[t]["status"] for t in accepted} <= {"finished", "stopped"}
    assert all(len(steps.get(t, [])) <= 1 for t in accepted if t not in finished)
    for task_id in finished:
        number = accepted[task_id].number
        stored = sorted(fresh.steps(task_id), key=lambda s: int(s["step"]))
        assert [next(iter(a)) for s in stored for a in s["actions"]] == ["navigate", "done"]
        assert stored[0]["actions"][0]["navigate"]["url"] == fresh.site.url(
            f"/page?title=Load+{number}"
        )
        assert stored[1]["url"] == fresh.site.url(f"/page?title=Load+{number}")
        assert tasks[task_id]["output"] == f"load {number} done"
        # each of its steps asked the model once: no step was run twice
        assert len(agent_requests_of(fresh, f"load-task-{number:04d}")) == 2
    record_count("tasks executed", len(finished))

    # And nothing is left running
    _wait_until(lambda: not fresh.execution_arns("RUNNING"), "every execution ended")
    _wait_until(lambda: fresh.messages_on_work_queue() == 0, "work queue drained")
    _wait_until(lambda: not fresh.chromiums(), "no Chromium left", timeout=15)

    print(
        f"\nload: {len(answers)} run-task + {len(stops)} stop-task requests from "
        f"{LOAD_CLIENTS} clients in {submitted_in:.1f} s "
        f"({(len(answers) + len(stops)) / submitted_in:.1f} requests/s); answers {dict(statuses)}; "
        f"all {len(accepted)} tasks ended in {ended_in:.1f} s, {len(finished)} run by the worker "
        f"({len(finished) / ended_in * 60:.1f} tasks/min)"
    )


# -- faults -----------------------------------------------------------------------------------


def _by_step(actions: dict[int, list[dict[str, Any]]]) -> Any:
    """A script keyed on the agent's own step number, so a replayed step gets the same
    actions; ``done`` past the last numbered step."""

    def script(request: dict[str, Any], _served: int) -> list[dict[str, Any]]:
        step = agent_step_number(request) or 0
        return actions.get(step, [{"done": {"text": f"done after {step - 1}", "success": True}}])

    return script


def _when_step_starts(
    world: StackUnderTest, task: list[str], step: int, act: Callable[[], Any]
) -> list[Any]:
    """Run ``act`` in the background once the task (``task[0]``, once submitted) has recorded
    that ``step`` started (its actions chosen, not yet run); the list gets what it returned."""
    done: list[Any] = []

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if task and (world.task_item(task[0]).get("step_started") or {}).get("step") == step:
                done.append(act())
                return
            time.sleep(0.05)

    threading.Thread(target=watch, daemon=True).start()
    return done


def test_a_worker_killed_mid_step_resumes_and_records_each_step_once(
    fresh: StackUnderTest,
) -> None:
    # Given a task whose worker is SIGKILLed while step 2 runs its (3 s) action
    fresh.llm.set_script(
        _by_step(
            {
                1: [{"navigate": {"url": fresh.site.url("/page?title=Before+kill")}}],
                2: [{"wait": {"seconds": 3}}],
            }
        )
    )
    task: list[str] = []
    killed = _when_step_starts(fresh, task, 2, fresh.kill_worker)
    task.append(submit(fresh, "Reliability: survive a killed worker"))

    # Then the chunk comes back (SQS), resumes from its checkpoint and the task finishes
    assert fresh.wait_until_ended(task[0], timeout=120) == "finished"
    assert killed, "the worker was never killed"
    record_count("faults injected")
    item = assert_ended_cleanly(fresh, task[0])
    assert (item["steps_count"], item["output"]) == (3, "done after 2")
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == "zombie"
    # the model was asked for step 2 twice (replayed after the kill), every other step once
    asked = Counter(agent_step_number(r) for r in fresh.llm.agent_requests)
    assert asked == Counter({1: 1, 2: 2, 3: 1})


def _scheduled_chunk_messages(world: StackUnderTest, task_id: str) -> list[str]:
    """The RunChunk messages the task's execution has sent, as the state machine's history
    shows them (the TaskScheduled event carries the rendered message, token included)."""
    arn = world.execution_arns()[task_id]
    events = world.aws("stepfunctions").get_execution_history(executionArn=arn)["events"]
    bodies = []
    for event in events:
        details = event.get("taskScheduledEventDetails") or {}
        if "sqs" in details.get("resource", "") + details.get("resourceType", ""):
            body = json.loads(details["parameters"])["MessageBody"]
            bodies.append(body if isinstance(body, str) else json.dumps(body))
    return bodies


DROPPED_COPY = "Another worker is running this chunk: delivery dropped"


def test_a_chunk_message_delivered_twice_more_runs_its_steps_once(fresh: StackUnderTest) -> None:
    # Given a stack with two workers, and a three-step task (two chunks) whose first chunk's
    # message is on the queue twice more while that chunk runs (SQS delivers at least once)
    environment = _stack_environment(fresh.llm, fresh.mark)
    with local_stack_process(
        API_KEY, extra_env=environment, parameters=PARAMETERS, worker_concurrency=2
    ) as stack:
        world = StackUnderTest(stack, fresh.llm, fresh.site, mark=fresh.mark)
        task: list[str] = []

        def log_lines(text: str) -> list[str]:
            return [line for line in stack.log.splitlines() if task[0] in line and text in line]

        steps = _by_step(
            {
                1: [{"navigate": {"url": fresh.site.url("/page?title=Once")}}],
                2: [{"wait": {"seconds": 1}}],
            }
        )

        def script(request: dict[str, Any], served: int) -> list[dict[str, Any]]:
            # The first chunk, holding its chunk lease, is kept at step 2 until the second
            # worker (started cold) has had both copies: they must meet the chunk running.
            deadline = time.monotonic() + 60
            while agent_step_number(request) == 2 and time.monotonic() < deadline:
                if len(log_lines(DROPPED_COPY)) >= 2:
                    break
                time.sleep(0.2)
            return steps(request, served)

        fresh.llm.set_script(script)

        def duplicate_the_running_chunk() -> int:
            (message,) = _scheduled_chunk_messages(world, task[0])
            for _ in range(2):
                world.aws("sqs").send_message(QueueUrl=world.work_queue_url(), MessageBody=message)
            return 2

        duplicated = _when_step_starts(world, task, 1, duplicate_the_running_chunk)
        task.append(submit(world, "Reliability: a chunk delivered three times"))

        # Then the task finishes once, with one set of steps
        assert world.wait_until_ended(task[0], timeout=120) == "finished"
        assert duplicated == [2]
        record_count("faults injected", 2)
        item = assert_ended_cleanly(world, task[0])
        assert (item["steps_count"], item["output"]) == (3, "done after 2")
        asked = Counter(agent_step_number(r) for r in fresh.llm.agent_requests)
        assert asked == Counter({1: 1, 2: 1, 3: 1})
        # And both copies were dropped by the other worker while the first chunk ran (its
        # chunk lease held), before that chunk ended; each chunk ran once
        lines = stack.log.splitlines()
        dropped = [i for i, line in enumerate(lines) if task[0] in line and DROPPED_COPY in line]
        ended = [i for i, line in enumerate(lines) if task[0] in line and "Chunk ended" in line]
        assert (len(dropped), len(ended)) == (2, 2), log_lines("delivery dropped")
        assert max(dropped) < min(ended)
        history = world.aws("stepfunctions").get_execution_history(
            executionArn=world.execution_arns()[task[0]]
        )["events"]
        entered = Counter(
            e["stateEnteredEventDetails"]["name"]
            for e in history
            if "stateEnteredEventDetails" in e
        )
        assert (entered["RunChunk"], entered["MarkFinished"], entered["MarkFailed"]) == (2, 1, 0)


def test_chromium_killed_mid_step_ends_the_task_with_a_reason_and_no_chromium_left(
    fresh: StackUnderTest,
) -> None:
    # Given a task whose Chromium processes are all SIGKILLed while step 2 runs
    fresh.llm.set_script(
        _by_step(
            {
                1: [{"navigate": {"url": fresh.site.url("/page?title=Before+crash")}}],
                2: [{"wait": {"seconds": 3}}],
            }
        )
    )

    def kill_chromium() -> int:
        victims = [
            p
            for p in fresh.worker_process().children(recursive=True)
            if "chrom" in p.name().lower()
        ]
        for process in victims:
            process.kill()
        return len(victims)

    task: list[str] = []
    killed = _when_step_starts(fresh, task, 2, kill_chromium)
    task.append(submit(fresh, "Reliability: survive a Chromium crash"))

    # Then the chunk fails (its browser is gone), the state machine retries it, and the retry
    # resumes from the checkpoint after step 1 in a new Chromium and finishes the task
    assert fresh.wait_until_ended(task[0], timeout=180) == "finished"
    assert killed, "Chromium was never killed"
    assert killed[0] > 0, "the worker had no Chromium to kill"
    record_count("faults injected")
    item = assert_ended_cleanly(fresh, task[0])
    assert (item["steps_count"], item["output"]) == (3, "done after 2")
    asked = Counter(agent_step_number(r) for r in fresh.llm.agent_requests)
    assert asked == Counter({1: 1, 2: 2, 3: 1})
    history = fresh.aws("stepfunctions").get_execution_history(
        executionArn=fresh.execution_arns()[task[0]]
    )["events"]
    entered = Counter(
        e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e
    )
    assert (entered["RunChunk"], entered["CountRetry"], entered["MarkFinished"]) == (2, 1, 1)


EXPECTED_CAUSE = {
    "HTTP 500": "Error code: 500 - ScriptedLLM injected HTTP 500",
    "garbage JSON": "Invalid JSON",
}


@pytest.mark.parametrize("fault", ["HTTP 500", "garbage JSON"])
def test_a_failing_model_server_fails_the_task_with_the_reason(
    fresh: StackUnderTest, fault: str
) -> None:
    # Given a model server that answers every request with a 500 (retry-after: 10 ms, so the
    # client's own retries are quick) or with content that is not JSON
    if fault == "HTTP 500":
        fresh.llm.fail_next(1000, status=500, retry_after=0.01)
    else:
        fresh.llm.garbage_next(1000)

    task_id = submit(fresh, f"Reliability: a model server answering {fault}")

    # Then the task fails once the agent's retries are spent, saying why
    assert fresh.wait_until_ended(task_id, timeout=180) == "failed"
    record_count("faults injected")
    item = assert_ended_cleanly(fresh, task_id)
    reason = item["failure_reason"]
    assert reason.startswith("The agent stopped after repeated failures: ")
    assert EXPECTED_CAUSE[fault] in reason
    # and no usable answer ever got through (the fault outlasted every retry)
    assert fresh.llm.requests
    assert all("this is not JSON" in content for _, content in fresh.llm.replies)


def test_stopping_the_stack_leaves_no_process_behind(world: StackUnderTest) -> None:
    # Given the stack after the load and every fault above
    assert world.processes(), "the marker does not find the stack's processes"
    assert not world.chromiums()

    world.stop_stack()

    # Then no process it started (worker containers, Chromium) outlives it
    _wait_until(lambda: not world.processes(), "every process of the stack ended", timeout=20)
