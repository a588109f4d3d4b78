"""A running local stack and the fakes around it, as the end-to-end tests drive them:
submit over HTTP, wait for the end, read what the stack stored."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import psutil
import requests

from tests.fakes import ScriptedLLM, TestSite
from tests.local_stack_process import LocalStackProcess, local_stack_process

TERMINAL = ("finished", "failed", "stopped")


@dataclass
class TaskWorld:
    stack: LocalStackProcess
    llm: ScriptedLLM
    site: TestSite

    def submit(self, body: dict[str, Any]) -> str:
        response = requests.post(
            f"{self.stack.api_url}/run-task",
            json=body,
            headers={"Authorization": f"Bearer {self.stack.api_key}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def control(self, action: str, task_id: str) -> requests.Response:
        """PUT /stop-task, /pause-task or /resume-task."""
        return requests.put(
            f"{self.stack.api_url}/{action}-task",
            params={"task_id": task_id},
            headers={"Authorization": f"Bearer {self.stack.api_key}"},
            timeout=30,
        )

    def status(self, task_id: str) -> str:
        return str(
            requests.get(
                f"{self.stack.api_url}/task/{task_id}/status",
                headers={"Authorization": f"Bearer {self.stack.api_key}"},
                timeout=30,
            ).json()
        )

    def read(self, path: str, **params: str) -> Any:
        """GET an API path (e.g. ``/task/<id>``) as the stack's caller; the JSON answer."""
        response = requests.get(
            f"{self.stack.api_url}{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.stack.api_key}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for_status(self, task_id: str, status: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while (now := self.status(task_id)) != status:
            assert now not in TERMINAL, f"{task_id} ended {now} while waiting for {status}"
            assert time.monotonic() < deadline, f"{task_id} is still {now}, not {status}"
            time.sleep(0.2)

    def wait_for_steps(self, task_id: str, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.task_item(task_id).get("steps_count", 0) < count:
            assert time.monotonic() < deadline, f"{task_id} never took {count} steps"
            time.sleep(0.2)

    def worker_process(self) -> psutil.Process:
        """The AgentWorker's process (its "container"); Chromium runs as its children."""
        for child in psutil.Process(self.stack.process.pid).children(recursive=True):
            if "AgentWorkerFunction" in " ".join(child.cmdline()):
                return child
        raise AssertionError("no AgentWorker process is running")

    def kill_worker(self) -> int:
        """SIGKILL the AgentWorker's process, as a crash would; its pid."""
        worker = self.worker_process()
        worker.kill()
        return int(worker.pid)

    def wait_until_ended(self, task_id: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(task_id)
            if status in TERMINAL:
                if status == "failed":  # the reason, for whoever reads a failing test
                    print(self.task_item(task_id).get("failure_reason"))
                    print(
                        "\n".join(x for x in self.stack.log.splitlines() if "failed" in x.lower())
                    )
                return str(status)
            time.sleep(0.3)
        raise AssertionError(f"{task_id} did not end; log:\n{self.stack.log[-5000:]}")

    def aws(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.stack.aws_endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def task_item(self, task_id: str) -> dict[str, Any]:
        from browser_tasks.adapters.dynamodb_items import from_item

        table = [t for t in self.aws("dynamodb").list_tables()["TableNames"] if "TasksTable" in t]
        item = self.aws("dynamodb").get_item(TableName=table[0], Key={"task_id": {"S": task_id}})
        return from_item(item["Item"])

    def steps(self, task_id: str) -> list[dict[str, Any]]:
        from browser_tasks.adapters.dynamodb_items import from_item

        table = [t for t in self.aws("dynamodb").list_tables()["TableNames"] if "StepsTable" in t]
        items = self.aws("dynamodb").query(
            TableName=table[0],
            KeyConditionExpression="task_id = :t",
            ExpressionAttributeValues={":t": {"S": task_id}},
        )["Items"]
        return [from_item(i) for i in items]

    def media(self, key: str) -> bytes:
        bucket = next(
            b["Name"]
            for b in self.aws("s3").list_buckets()["Buckets"]
            if "mediabucket" in b["Name"]
        )
        return bytes(self.aws("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


@contextmanager
def stack_with_scripted_model(
    api_key: str, llm: ScriptedLLM, site: TestSite, parameters: dict[str, str] | None = None
) -> Iterator[TaskWorld]:
    """``browser-tasks local`` whose worker talks to ``llm`` (template ``parameters``
    overridden), and the site its tasks visit."""
    environment = {"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "sk-scripted"}
    with local_stack_process(api_key, extra_env=environment, parameters=parameters) as stack:
        yield TaskWorld(stack, llm, site)


@contextmanager
def scripted_world(api_key: str, parameters: dict[str, str] | None = None) -> Iterator[TaskWorld]:
    """A scripted model, a test site and a local stack: what most end-to-end tests need."""
    with (
        ScriptedLLM() as llm,
        TestSite() as site,
        stack_with_scripted_model(api_key, llm, site, parameters) as world,
    ):
        yield world
