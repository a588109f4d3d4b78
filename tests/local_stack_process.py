"""Running ``browser-tasks local`` as a subprocess, the way a newcomer does."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.conftest import PROJECT_ROOT

READY_TIMEOUT_SECONDS = 60
OPERATOR_VARIABLES = frozenset(
    {
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "GOOGLE_API_KEY",
        "GEMINI_API_KEY",
        "ANTHROPIC_API_KEY",
        "PROXY_URLS",
        "ADBLOCK_RULES_PATH",
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
    }
)
# Called with every stack that started, just before it is stopped (while its AWS still
# answers): the reliability suite sweeps each stack's stores for its canary secret here.
BEFORE_STOP: list[Callable[["LocalStackProcess"], None]] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalStackProcess:
    process: "subprocess.Popen[str]"
    api_url: str
    aws_endpoint: str
    api_key: str
    output: list[str] = field(default_factory=list)

    @property
    def log(self) -> str:
        return "".join(self.output)

    def aws_env(self) -> dict[str, str]:
        """The environment a second program needs to reach this stack's AWS."""
        return {
            **os.environ,
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
        }


@contextmanager
def local_stack_process(
    api_key: str,
    extra_env: dict[str, str] | None = None,
    parameters: dict[str, str] | None = None,
    worker_concurrency: int = 1,
) -> Iterator[LocalStackProcess]:
    """``parameters``: template parameter overrides (``--parameter-overrides``);
    ``worker_concurrency``: AgentWorker instances at once (``--worker-concurrency``)."""
    port, aws_port = free_port(), free_port()
    # No test may reach a real model provider or proxy: the developer's own keys stay out.
    inherited = {k: v for k, v in os.environ.items() if k not in OPERATOR_VARIABLES}
    env = {
        **inherited,
        "BROWSER_TASKS_API_KEY": api_key,
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "browser_tasks.cli",
            "local",
            "--port",
            str(port),
            "--aws-port",
            str(aws_port),
            "--worker-concurrency",
            str(worker_concurrency),
            *(
                ["--parameter-overrides", *(f"{k}={v}" for k, v in parameters.items())]
                if parameters
                else []
            ),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stack = LocalStackProcess(
        process, f"http://127.0.0.1:{port}/api/v1", f"http://127.0.0.1:{aws_port}", api_key
    )
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            stack.output.append(line)
            if line.strip() == "ready":
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not ready.is_set():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"browser-tasks local did not start:\n{stack.log}")
            ready.wait(0.2)
        yield stack
    finally:
        try:
            if ready.is_set() and process.poll() is None:
                for hook in BEFORE_STOP:
                    hook(stack)
        finally:
            _stop(process)


def _stop(process: "subprocess.Popen[str]") -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
