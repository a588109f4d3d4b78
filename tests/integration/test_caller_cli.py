"""The caller commands of ``browser-tasks`` as a subprocess, against ``browser-tasks local``
over HTTP: real Chromium and the real Agent, only the model scripted. Two tasks run: one that
downloads a file and finishes, and one that never would (Ctrl-C, pause, resume, stop)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fakes.test_site import REPORT_CSV
from tests.task_world import TaskWorld, scripted_world

API_KEY = "bt_local_test_caller_cli_key_01234567"
CLI = [sys.executable, "-m", "browser_tasks.cli"]


@pytest.fixture(scope="module")
def world() -> Iterator[TaskWorld]:
    with scripted_world(API_KEY) as world:
        yield world


def _environment(world: TaskWorld, key: str) -> dict[str, str]:
    return {
        **os.environ,
        "BROWSER_TASKS_ENDPOINT": world.stack.api_url,
        "BROWSER_TASKS_API_KEY": key,
        "PYTHONUNBUFFERED": "1",
    }


def cli(world: TaskWorld, *argv: str, key: str = API_KEY) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [*CLI, *argv],
        env=_environment(world, key),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@dataclass
class Running:
    """A CLI command still running, its output collected line by line."""

    process: "subprocess.Popen[str]"
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for_line(self, starting: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in list(self.lines) if line.startswith(starting)]
            if found:
                return found[0]
            assert self.process.poll() is None, f"exited early:\n{self.output}"
            time.sleep(0.1)
        raise AssertionError(f"no line starting {starting!r} in:\n{self.output}")

    def finish(self, timeout: float = 90) -> int:
        code = self.process.wait(timeout=timeout)
        time.sleep(0.2)  # the pump thread reads what was left in the pipe
        return code


def start(world: TaskWorld, *argv: str) -> Running:
    process = subprocess.Popen(
        [*CLI, *argv],
        env=_environment(world, API_KEY),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = Running(process)

    def pump() -> None:
        assert process.stdout is not None
        running.lines.extend(process.stdout)

    threading.Thread(target=pump, daemon=True).start()
    return running


@dataclass
class FinishedRun:
    task_id: str
    result: "subprocess.CompletedProcess[str]"


@pytest.fixture(scope="module")
def finished_run(world: TaskWorld) -> FinishedRun:
    """``run --wait`` of a task that downloads a report and finishes in two steps."""
    world.llm.reset()
    world.llm.set_script(
        [
            {"actions": [{"click": {"text": "Download report"}}], "next_goal": "Get the report"},
            {
                "actions": [{"done": {"text": "The report is saved", "success": True}}],
                "next_goal": "Say it is saved",
            },
        ]
    )
    result = cli(
        world,
        "run",
        f"Download the report from {world.site.url('/download')}",
        "--max-agent-steps=5",
        "--metadata=suite=caller-cli",
        "--no-use-adblock",
        "--wait",
    )
    task_id = result.stdout.split()[0] if result.stdout else ""
    return FinishedRun(task_id, result)


def test_run_wait_prints_each_step_then_the_outcome_and_exits_0(
    world: TaskWorld, finished_run: FinishedRun
) -> None:
    result = finished_run.result

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == f"{finished_run.task_id} submitted; following it (Ctrl-C stops following, not the task)"
    )
    expected_in_order = [
        "step   1  Get the report",
        f"          {world.site.url('/download')}",
        "step   2  Say it is saved",
        "status: finished",
        "output:    The report is saved",
        "output files: report.csv",
        f"  download them: browser-tasks files {finished_run.task_id} --download DIR",
    ]
    positions = [lines.index(line) for line in expected_in_order]
    assert positions == sorted(positions)
    assert result.stdout.count("step   1") == 1  # each step printed once, as it came


def test_get_shows_the_task_and_its_json(world: TaskWorld, finished_run: FinishedRun) -> None:
    shown = cli(world, "get", finished_run.task_id)
    as_json = cli(world, "get", finished_run.task_id, "--json")

    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"{finished_run.task_id}  finished\n")
    assert "metadata:  suite=caller-cli" in shown.stdout
    assert "step   2  Say it is saved" in shown.stdout
    assert "output:    The report is saved" in shown.stdout
    view = json.loads(as_json.stdout)
    assert (view["id"], view["status"], view["steps_count"]) == (
        finished_run.task_id,
        "finished",
        2,
    )
    assert view["metadata"] == {"suite": "caller-cli"}
    assert view["output_files"] == ["report.csv"]


def test_list_finds_the_task_by_status_and_by_metadata(
    world: TaskWorld, finished_run: FinishedRun
) -> None:
    by_status = cli(world, "list", "--status", "finished", "--limit", "5")
    by_metadata = cli(world, "list", "--metadata", "suite=caller-cli")
    by_other_metadata = cli(world, "list", "--metadata", "suite=elsewhere")

    assert by_status.returncode == 0, by_status.stderr
    assert f"{finished_run.task_id}  finished" in by_status.stdout
    assert "page 1 of 1" in by_status.stdout
    assert finished_run.task_id in by_metadata.stdout
    assert finished_run.task_id not in by_other_metadata.stdout
    assert "0 task(s) in all" in by_other_metadata.stdout


def test_files_lists_and_downloads_the_output_files(
    world: TaskWorld, finished_run: FinishedRun, tmp_path: Path
) -> None:
    listed = cli(world, "files", finished_run.task_id)
    downloaded = cli(world, "files", finished_run.task_id, "--download", str(tmp_path / "out"))

    assert (listed.returncode, listed.stdout) == (0, "report.csv\n")
    assert downloaded.returncode == 0, downloaded.stderr
    assert (tmp_path / "out" / "report.csv").read_bytes() == REPORT_CSV
    assert f"report.csv  ({len(REPORT_CSV)} bytes)" in downloaded.stdout


def test_ctrl_c_leaves_the_task_running_and_pause_resume_stop_control_it(
    world: TaskWorld,
) -> None:
    world.llm.reset()

    def never_done(request: dict[str, Any], step: int) -> list[dict[str, Any]]:
        if step == 1:
            return [{"navigate": {"url": world.site.url("/page?title=Long")}}]
        return [{"wait": {"seconds": 1}}]

    world.llm.set_script(never_done)

    # Given a task followed with run --wait
    follower = start(
        world, "run", "Never finish", "--max-agent-steps=60", "--no-use-adblock", "--wait"
    )
    task_id = follower.wait_for_line("task_").split()[0]
    follower.wait_for_line("step   1")

    # When the caller presses Ctrl-C
    follower.process.send_signal(signal.SIGINT)

    # Then the CLI stops following, says how to stop the task, and the task runs on
    assert follower.finish() == 130
    assert f"Stopped following {task_id}; the task keeps running." in follower.output
    assert f"browser-tasks stop {task_id}" in follower.output
    time.sleep(1.5)
    assert world.status(task_id) == "running"

    # And pause, resume and stop act on it
    assert cli(world, "pause", task_id).stdout == f"pause asked for {task_id}\n"
    world.wait_for_status(task_id, "paused")
    assert cli(world, "resume", task_id).returncode == 0
    world.wait_for_status(task_id, "running")
    follower = start(world, "get", task_id, "--wait")
    follower.wait_for_line("status: running")
    stopped = cli(world, "stop", task_id)
    assert (stopped.returncode, stopped.stdout) == (0, f"stop asked for {task_id}\n")
    assert follower.finish() == 1  # a stopped task is not a finished one
    assert "status: stopped" in follower.output


def test_errors_exit_2_with_the_apis_detail(world: TaskWorld) -> None:
    bad_key = cli(world, "list", key="bt_not_a_key_of_this_stack_000000")
    unknown = cli(world, "get", "task_00000000000000000000000000")
    invalid = cli(world, "run", "t", "--max-agent-steps", "0")
    unreachable = cli(world, "list", "--endpoint", "http://127.0.0.1:9/api/v1")

    assert (bad_key.returncode, bad_key.stderr) == (2, "browser-tasks: HTTP 401: Invalid API key\n")
    assert (unknown.returncode, unknown.stderr) == (2, "browser-tasks: HTTP 404: Task not found\n")
    assert invalid.returncode == 2
    assert invalid.stderr.startswith("browser-tasks: HTTP 422: invalid request\n")
    assert "  body.max_agent_steps: Input should be greater than or equal to 1" in invalid.stderr
    assert unreachable.returncode == 2
    assert "cannot reach http://127.0.0.1:9/api/v1" in unreachable.stderr


def test_the_docs_are_served_over_http_without_a_key(world: TaskWorld) -> None:
    document = requests.get(f"{world.stack.api_url}/openapi.json", timeout=30)
    page = requests.get(f"{world.stack.api_url}/docs", timeout=30)

    assert document.status_code == 200
    assert document.json()["servers"] == [{"url": "/"}]  # served at the root, no stage
    assert (page.status_code, page.headers["Content-Type"]) == (200, "text/html")
    assert "SwaggerUIBundle(" in page.text
