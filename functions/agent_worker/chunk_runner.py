"""One chunk of one task: the real browser-use Agent in Chromium, every step recorded.

The state machine owns the task's limits; the runner never goes past the steps and seconds
the chunk message leaves it, and answers with a ChunkResult the state machine routes on.
Everything that leaves this module (records, files, logs, errors) is redacted of the task's
secret values first.
"""

import asyncio
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from browser_state import export_cookies, import_cookies
from browser_use import Agent
from browser_use.tools.extraction.schema_utils import schema_dict_to_pydantic_model

from browser_setup import plan_network, task_browser
from browser_tasks.adapters.browser_state_store import (
    BrowserStateStore,
    profile_state_key,
    task_browser_data_key,
)
from browser_tasks.adapters.dynamodb_steps import DynamoStepRepository
from browser_tasks.adapters.dynamodb_tasks import DynamoTaskRepository
from browser_tasks.adapters.kms_cipher import KmsSecretsCipher
from browser_tasks.adapters.llm_models import ModelCredentials, ModelUnavailable, chat_model
from browser_tasks.adapters.s3_media import S3MediaStore, upload_key
from browser_tasks.adapters.stepfunctions_callbacks import TaskTokenCallbacks
from browser_tasks.domain.redaction import Redactor
from browser_tasks.domain.tasks import secrets_context
from browser_tasks.models.task import TaskOutcome, TaskRecord, TaskStatus, utc_timestamp
from browser_tasks.models.work import ChunkResult, RunChunkMessage
from browser_tasks.services import utc_now
from log_redaction import redacted_logs
from step_recorder import StepRecorder
from worker_settings import OperatorSecrets, WorkerSettings

logger = logging.getLogger(__name__)

MAX_OUTPUT_FILE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class WorkerPorts:
    tasks: DynamoTaskRepository
    steps: DynamoStepRepository
    media: S3MediaStore
    browser_state: BrowserStateStore
    cipher: KmsSecretsCipher
    callbacks: TaskTokenCallbacks


class ChunkFailed(Exception):
    """A retryable failure; the message is already redacted."""


@contextmanager
def _temp_root(path: Path) -> Iterator[None]:
    """Point ``tempfile`` at the chunk's folder: the library's own temp folders
    (``browser_use_agent_*``, ``browser-use-downloads-*``) land there and go with it."""
    previous = tempfile.tempdir
    tempfile.tempdir = str(path)
    try:
        yield
    finally:
        tempfile.tempdir = previous


class ChunkRunner:
    def __init__(
        self,
        ports: WorkerPorts,
        settings: WorkerSettings,
        operator: Callable[[], OperatorSecrets],
    ) -> None:
        self._ports = ports
        self._settings = settings
        self._operator = operator

    async def run(self, message: RunChunkMessage) -> ChunkResult:
        started = time.monotonic()
        task = await asyncio.to_thread(self._ports.tasks.get, message.task_id)
        if task is None or task.owner != message.owner:
            return ChunkResult(state="failed", steps=0, elapsed_seconds=0, error="Task not found")
        if task.status.is_terminal or task.stop_requested:
            state = "done" if task.status is TaskStatus.FINISHED else "stopped"
            return ChunkResult(state=state, steps=0, elapsed_seconds=0)
        try:
            secrets = self._secrets(task)
        except Exception:
            return self._verdict(started, "The task's secrets could not be decrypted")
        redactor = Redactor(secrets)
        try:
            llm = chat_model(str(task.settings.get("llm_model", "gpt-4.1")), self._credentials())
        except ModelUnavailable as error:
            return self._verdict(started, error.detail)

        workdir = Path(tempfile.mkdtemp(prefix=f"chunk-{task.task_id}-"))
        heartbeat = asyncio.create_task(self._heartbeat(message.task_token))
        try:
            with redacted_logs(redactor), _temp_root(workdir):
                return await self._run_agent(
                    message, task, secrets, redactor, llm, workdir, started
                )
        except Exception as error:
            raise ChunkFailed(redactor.text(f"{type(error).__name__}: {error}")) from None
        finally:
            heartbeat.cancel()
            shutil.rmtree(workdir, ignore_errors=True)

    async def _run_agent(
        self,
        message: RunChunkMessage,
        task: TaskRecord,
        secrets: dict[str, Any] | None,
        redactor: Redactor,
        llm: Any,
        workdir: Path,
        started: float,
    ) -> ChunkResult:
        settings = task.settings
        plan = plan_network(settings, self._settings, self._operator().proxy_urls)
        for note in plan.notes:
            await asyncio.to_thread(self._ports.tasks.add_note, task.task_id, note)
        inputs = await asyncio.to_thread(self._download_inputs, task, workdir / "inputs")
        schema = (
            json.loads(settings["structured_output_json"])
            if "structured_output_json" in settings
            else None
        )
        recorder = StepRecorder(
            task=task,
            steps_before=message.steps_done,
            redactor=redactor,
            steps=self._ports.steps,
            tasks=self._ports.tasks,
            media=self._ports.media,
        )
        gif_path = workdir / "task.gif"
        deadline = started + message.seconds_remaining
        stop_asked = False

        async def end_step(agent: Any) -> None:
            nonlocal stop_asked
            await recorder.on_step_end(agent)
            stop_asked = await asyncio.to_thread(self._ports.tasks.stop_requested, task.task_id)
            if stop_asked or time.monotonic() >= deadline:
                agent.stop()  # for time, the state machine will see the limit reached

        profile_id = settings.get("browser_profile_id")
        async with task_browser(plan, settings, workdir, self._settings) as session:
            if profile_id:
                saved = await asyncio.to_thread(
                    self._ports.browser_state.load,
                    task.owner,
                    profile_state_key(task.owner, profile_id),
                )
                await import_cookies(session, saved["cookies"] if saved else [])
            agent: Agent[Any, Any] = Agent(
                task=task.task,
                llm=llm,
                browser_session=session,
                sensitive_data=secrets,
                output_model_schema=schema_dict_to_pydantic_model(schema) if schema else None,
                available_file_paths=[str(p) for p in inputs] or None,
                file_system_path=str(workdir / "agent-files"),
                task_id=task.task_id,
                use_judge=False,
                generate_gif=str(gif_path),
                enable_signal_handler=False,
                calculate_cost=False,
                max_failures=3,
            )
            history = await agent.run(max_steps=message.steps_remaining, on_step_end=end_step)
            browser_data_key = await self._save_browser_state(task, session)
        elapsed = int(time.monotonic() - started)

        gave_up = (
            not history.is_done()
            and not agent.state.stopped
            and agent.state.consecutive_failures >= agent.settings.max_failures
        )
        outcome, error = self._outcome(history, schema, redactor, gave_up)
        if history.is_done() or error or stop_asked:
            outcome = outcome.model_copy(
                update={
                    "output_files": await asyncio.to_thread(
                        self._store_output_files, task, workdir / "downloads", redactor
                    ),
                    "browser_data_key": browser_data_key,
                    "gif_key": await asyncio.to_thread(
                        self._store_gif, task, gif_path, recorder.count
                    ),
                }
            )
        await asyncio.to_thread(
            self._ports.tasks.record_outcome, task.task_id, outcome, utc_timestamp(utc_now())
        )
        if error:
            return ChunkResult(
                state="failed", steps=recorder.count, elapsed_seconds=elapsed, error=error
            )
        state = "done" if history.is_done() else "stopped" if stop_asked else "continue"
        return ChunkResult(state=state, steps=recorder.count, elapsed_seconds=elapsed)

    def _outcome(
        self, history: Any, schema: dict[str, Any] | None, redactor: Redactor, gave_up: bool
    ) -> tuple[TaskOutcome, str | None]:
        """The task's output and, if the output breaks the caller's schema, the reason."""
        final = history.final_result()
        output = redactor.text(final) if final is not None else None
        errors = [redactor.text(e) for e in history.errors() if e]
        error = None
        structured = None
        if schema is not None and history.is_done():
            try:
                document = json.loads(final or "")
                jsonschema.validate(document, schema)
                structured = output
            except json.JSONDecodeError:
                error = "The agent's output is not JSON, but structured_output_json asked for it"
            except jsonschema.ValidationError as invalid:
                error = redactor.text(
                    f"The agent's output does not match structured_output_json: {invalid.message}"
                )
        if gave_up:  # e.g. the model failed again and again, before the step budget ran out
            error = f"The agent stopped after repeated failures: {errors[-1] if errors else '?'}"
        return (
            TaskOutcome(
                output=output,
                structured_output=structured,
                is_success=history.is_successful(),
                errors=errors,
            ),
            error,
        )

    async def _save_browser_state(self, task: TaskRecord, session: Any) -> str | None:
        """Keep the browser's cookies where the task asked: its own browser data
        (``save_browser_data``) and its profile (``browser_profile_id``).

        Returns the key of the task's own browser data, if it was saved.
        """
        profile_id = task.settings.get("browser_profile_id")
        if not (task.settings.get("save_browser_data") or profile_id):
            return None
        state = {"cookies": await export_cookies(session)}
        store = self._ports.browser_state
        if profile_id:
            key = profile_state_key(task.owner, profile_id)
            await asyncio.to_thread(store.save, task.owner, key, state)
        if not task.settings.get("save_browser_data"):
            return None
        key = task_browser_data_key(task.owner, task.task_id)
        return await asyncio.to_thread(store.save, task.owner, key, state)

    def _credentials(self) -> ModelCredentials:
        return ModelCredentials(
            keys=self._operator().provider_keys,
            openai_base_url=self._settings.openai_base_url,
            anthropic_via_bedrock=self._settings.anthropic_via_bedrock,
            aws_region=os.environ.get("AWS_REGION"),
        )

    def _secrets(self, task: TaskRecord) -> dict[str, Any] | None:
        if not task.secrets_ciphertext:
            return None
        plaintext = self._ports.cipher.decrypt(
            task.secrets_ciphertext, secrets_context(task.task_id, task.owner)
        )
        secrets: dict[str, Any] = json.loads(plaintext)
        return secrets

    def _download_inputs(self, task: TaskRecord, folder: Path) -> list[Path]:
        names = task.settings.get("included_file_names") or []
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in names:  # names were validated at submit: plain, no path parts
            path = folder / name
            path.write_bytes(self._ports.media.get(upload_key(task.owner, name)))
            paths.append(path)
        return paths

    def _store_output_files(self, task: TaskRecord, folder: Path, redactor: Redactor) -> list[str]:
        """Each downloaded file once. browser-use sometimes downloads a file a second time
        itself ("report (1).csv" beside "report.csv"): one copy per distinct content is kept,
        under the shortest name."""
        stored: list[str] = []
        seen: set[str] = set()
        files = (
            sorted(folder.glob("*"), key=lambda p: (len(p.name), p.name)) if folder.is_dir() else []
        )
        for path in files:
            if not path.is_file() or path.stat().st_size > MAX_OUTPUT_FILE_BYTES:
                continue
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            name = redactor.text(path.name)
            key = self._ports.media.output_file_key(task.owner, task.task_id, name)
            self._ports.media.put(key, redactor.bytes(data), "application/octet-stream")
            stored.append(name)
        return stored

    def _store_gif(self, task: TaskRecord, path: Path, steps: int) -> str | None:
        if steps < 2 or not path.is_file():
            return None
        key = self._ports.media.gif_key(task.owner, task.task_id)
        return self._ports.media.put(key, path.read_bytes(), "image/gif")

    def _verdict(self, started: float, error: str) -> ChunkResult:
        """A failure retrying cannot fix: the state machine fails the task with ``error``."""
        return ChunkResult(
            state="failed", steps=0, elapsed_seconds=int(time.monotonic() - started), error=error
        )

    async def _heartbeat(self, task_token: str) -> None:
        while True:
            try:
                await asyncio.to_thread(self._ports.callbacks.heartbeat, task_token)
            except Exception as error:
                logger.warning("Heartbeat failed: %s", type(error).__name__)
            await asyncio.sleep(self._settings.heartbeat_seconds)
