"""Running a function of the template the way Lambda would, on this machine.

Two ways, as the function needs:
- ``InProcessFunction``: imported into the stack's process and called under a lock, one
  invocation at a time like one warm Lambda container (the API: answers in milliseconds).
- ``ContainerFunction``: a long-lived child process ("warm container") fed one event at a time
  over a pipe and restarted if it dies (queue consumers: the worker runs Chromium, and a crash
  or ``kill -9`` of it must look to the rest of the stack like a Lambda crash).
"""

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from browser_tasks.local.provision import ACCOUNT_ID, FunctionSpec


@dataclass
class LocalLambdaContext:
    """The attributes of Lambda's context object that Powertools and our handlers read."""

    function_name: str
    timeout_seconds: int
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        self.invoked_function_arn = (
            f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{self.function_name}"
        )
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def handler_path(spec: FunctionSpec) -> tuple[Path, str]:
    """``app.lambda_handler`` → (the module's file, the function's name)."""
    module, _, attribute = spec.handler.rpartition(".")
    return spec.code_dir / (module.replace(".", "/") + ".py"), attribute


def has_code(spec: FunctionSpec) -> bool:
    return handler_path(spec)[0].is_file()


def load_module(spec: FunctionSpec) -> ModuleType:
    """Import the handler's module under a name unique to the function.

    Every function's module is ``app.py``; the function's folder goes on ``sys.path`` so its
    own packages (``routes``) import as they do in Lambda.
    """
    path, _ = handler_path(spec)
    if str(spec.code_dir) not in sys.path:
        sys.path.insert(0, str(spec.code_dir))
    module_spec = importlib.util.spec_from_file_location(f"lambda_{spec.logical_id}", path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    saved_service = os.environ.get("POWERTOOLS_SERVICE_NAME")
    # Powertools reads its service name when the module builds its Logger.
    os.environ["POWERTOOLS_SERVICE_NAME"] = spec.environment.get(
        "POWERTOOLS_SERVICE_NAME", spec.logical_id
    )
    try:
        module_spec.loader.exec_module(module)
    finally:
        if saved_service is None:
            os.environ.pop("POWERTOOLS_SERVICE_NAME", None)
        else:
            os.environ["POWERTOOLS_SERVICE_NAME"] = saved_service
    return module


class InProcessFunction:
    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self._handler = getattr(load_module(spec), handler_path(spec)[1])
        self._lock = threading.Lock()

    def invoke(self, event: dict[str, Any]) -> Any:
        context = LocalLambdaContext(self.spec.logical_id, self.spec.timeout_seconds)
        with self._lock:
            return self._handler(event, context)


class FunctionCrashed(RuntimeError):
    """The function's process died or overran its timeout; Lambda would report an error."""


class ContainerFunction:
    """One warm container: a child process that handles one event at a time."""

    def __init__(self, spec: FunctionSpec, environment: dict[str, str]) -> None:
        self.spec = spec
        self._environment = environment
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def invoke(self, event: dict[str, Any]) -> Any:
        """Send ``event``; return the handler's result or raise ``FunctionCrashed``."""
        with self._lock:
            process = self._ensure_started()
            assert process.stdin is not None
            assert process.stdout is not None
            try:
                process.stdin.write(json.dumps(event) + "\n")
                process.stdin.flush()
            except BrokenPipeError:
                self._discard()
                raise FunctionCrashed(f"{self.spec.logical_id} exited before the event") from None
            reply = _read_line(process, self.spec.timeout_seconds)
            if reply is None:
                self._discard()
                raise FunctionCrashed(f"{self.spec.logical_id} crashed or timed out")
            answer = json.loads(reply)
            if "error" in answer:
                raise FunctionCrashed(f"{self.spec.logical_id} raised {answer['error']}")
            return answer["result"]

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process and self._process.poll() is None else None

    def stop(self) -> None:
        with self._lock:
            self._discard()

    def _ensure_started(self) -> "subprocess.Popen[str]":
        if self._process is None or self._process.poll() is not None:
            # Results come back on the child's stdout; its logs go to stderr, which is ours.
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "browser_tasks.local.container", self.spec.logical_id],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env={
                    **os.environ,
                    **self._environment,
                    "LOCAL_FUNCTION_SPEC": _spec_json(self.spec),
                },
                text=True,
                # Its own session: Ctrl-C in the terminal stops the stack, and the stack stops
                # its containers (which also end by themselves when their stdin closes).
                start_new_session=True,
            )
        return self._process

    def _discard(self) -> None:
        """End the container whole, as Lambda does: the child and everything it started
        (Chromium outlives a killed worker otherwise). Its session id is its pid."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self._process = None


def _read_line(process: "subprocess.Popen[str]", timeout_seconds: int) -> str | None:
    """A line from the child, or None if it dies or the function's timeout passes."""
    assert process.stdout is not None
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout_seconds)
    line = result[0] if result else ""
    return line or None


def _spec_json(spec: FunctionSpec) -> str:
    return json.dumps(
        {
            "logical_id": spec.logical_id,
            "code_dir": str(spec.code_dir),
            "handler": spec.handler,
            "timeout_seconds": spec.timeout_seconds,
        }
    )
