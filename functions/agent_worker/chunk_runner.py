"""One chunk of one task: the real browser-use Agent in Chromium, every step recorded.

The state machine owns the task's limits; the runner never goes past the steps and seconds
the chunk message leaves it, and answers with a ChunkResult the state machine routes on.
Everything that leaves this module (records, files, logs, errors) is redacted of the task's
secret values first.
"""

import asyncio
import contextlib
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
from browser_state import BrowserSnapshot, export_cookies, export_snapshot
from browser_use import Agent
from browser_use.agent.gif import create_history_gif
from browser_use.tools.extraction.schema_utils import schema_dict_to_pydantic_model
from checkpoint import (
    Checkpoint,
    agent_history,
    agent_state,
    capture,
    interrupted_step_note,
    leaves_page_local_state,
    task_checkpoint_key,
)

from browser_setup import plan_network, task_browser
from browser_tasks.adapters.browser_state_store import BrowserStateStore, task_browser_data_key
from browser_tasks.adapters.dynamodb_steps import DynamoStepRepository
from browser_tasks.adapters.dynamodb_tasks import DynamoTaskRepository
from browser_tasks.adapters.kms_cipher import KmsSecretsCipher
from browser_tasks.adapters.llm_models import ModelCredentials, ModelUnavailable, chat_model
from browser_tasks.adapters.s3_media import S3MediaStore, upload_key
from browser_tasks.adapters.stepfunctions_callbacks import TaskTokenCallbacks
from browser_tasks.domain.metering import Metering
from browser_tasks.domain.ports import RenewableLease
from browser_tasks.domain.redaction import Redactor
from browser_tasks.domain.tasks import secrets_context
from browser_tasks.models.task import (
    TaskControl,
    TaskOutcome,
    TaskRecord,
    TaskStatus,
    utc_timestamp,
)
from browser_tasks.models.work import ChunkResult, ChunkState, RunChunkMessage, StepStarted
from browser_tasks.services import browser_profile_service, metering, utc_now
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


@dataclass(frozen=True)
class ChunkBudget:
    """When this chunk must end, on the monotonic clock.

    The task's own limits (``task_max_steps``, ``task_deadline``) end it at once; the chunk's
    budget (steps or time) ends it only after a step that left no page-local state, unless
    the step that finally does runs past ``forced_deadline``.
    """

    task_max_steps: int
    task_deadline: float
    chunk_deadline: float
    forced_deadline: float
    chunk_max_steps: int  # 0: no step bound


# How long past its time budget a chunk may go on looking for a safe step to end after.
CHUNK_OVERRUN_SECONDS = 60


def chunk_ending(
    control: TaskControl,
    *,
    now: float,
    budget: ChunkBudget,
    steps_this_chunk: int,
    steps_total: int,
    page_local: bool,
    balance_exhausted: bool = False,
) -> ChunkState | None:
    """After a step: end the chunk, and how, or None to take the next step.

    ``balance_exhausted``: the owner's balance cannot pay for another step (billing on).
    """
    if control.stop:
        return "stopped"
    if steps_total >= budget.task_max_steps or now >= budget.task_deadline:
        return "continue"  # the state machine sees the limit reached and fails the task
    if balance_exhausted:
        return "failed"  # a step must not start unpaid, whatever it would leave behind
    if page_local and now < budget.forced_deadline:
        return None
    if control.pause:
        return "paused"
    if budget.chunk_max_steps and steps_this_chunk >= budget.chunk_max_steps:
        return "continue"
    if now >= budget.chunk_deadline:
        return "continue"
    return None


@dataclass(frozen=True)
class _Progress:
    """Where the task stood when this chunk started: the checkpoint's counts (which a chunk
    that died after its checkpoint knows and the state machine does not)."""

    steps: int
    agent_seconds: float


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

    async def run(
        self, message: RunChunkMessage, lease: RenewableLease | None = None
    ) -> ChunkResult:
        """Run the chunk; ``lease`` (the delivery's: its queue message and its hold on the
        chunk) is renewed with every heartbeat."""
        started = time.monotonic()
        task = await asyncio.to_thread(self._ports.tasks.get, message.task_id)
        if task is None or task.owner != message.owner:
            return ChunkResult(state="failed", steps=0, elapsed_seconds=0, error="Task not found")
        if task.status.is_terminal or task.stop_requested:
            state = "done" if task.status is TaskStatus.FINISHED else "stopped"
            return ChunkResult(state=state, steps=0, elapsed_seconds=0)
        try:
            checkpoint = await asyncio.to_thread(self._load_checkpoint, task)
        except Exception as error:
            raise ChunkFailed(f"The checkpoint could not be read: {type(error).__name__}") from None
        before = (
            _Progress(checkpoint.steps_done, checkpoint.agent_seconds)
            if checkpoint
            else _Progress(0, 0.0)
        )
        if task.pause_requested:
            return _result(message, "paused", before.steps, before.agent_seconds)
        billing = metering()
        unpaid = await asyncio.to_thread(billing.shortfall, task, before.steps)
        if unpaid is not None:
            return self._verdict(started, unpaid)
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
        heartbeat = asyncio.create_task(self._heartbeat(message.task_token, lease))
        try:
            with redacted_logs(redactor), _temp_root(workdir):
                return await self._run_agent(
                    message,
                    task,
                    checkpoint,
                    before,
                    secrets,
                    redactor,
                    llm,
                    workdir,
                    started,
                    billing,
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
        checkpoint: Checkpoint | None,
        before: _Progress,
        secrets: dict[str, Any] | None,
        redactor: Redactor,
        llm: Any,
        workdir: Path,
        started: float,
        billing: Metering,
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
            steps_before=before.steps,
            redactor=redactor,
            steps=self._ports.steps,
            tasks=self._ports.tasks,
            media=self._ports.media,
            metering=billing,
        )
        max_steps = message.steps_done + message.steps_remaining  # the task's, not the chunk's
        # What the state machine left, less what chunks it has not heard of used.
        seconds_left = message.seconds_remaining - (before.agent_seconds - message.elapsed_seconds)
        chunk_seconds = self._settings.chunk_time_budget_seconds
        budget = ChunkBudget(
            task_max_steps=max_steps,
            task_deadline=started + seconds_left,
            chunk_deadline=started + chunk_seconds,
            forced_deadline=started + chunk_seconds + CHUNK_OVERRUN_SECONDS,
            chunk_max_steps=self._settings.chunk_max_steps,
        )
        ending: ChunkState | None = None
        unpaid: str | None = None  # why the next step could not be paid for
        # A resumed chunk's browser is its checkpoint's (which holds what the profile gave the
        # first chunk); a fresh task's starts from its profile's saved state, if any.
        snapshot = checkpoint.browser if checkpoint else await self._profile_browser(task)
        saving: asyncio.Task[None] | None = None

        async def step_started(_summary: Any, model_output: Any, step: int) -> None:
            actions = [a.model_dump(exclude_none=True, mode="json") for a in model_output.action]
            started_step = StepStarted(step=step, actions=redactor.data(actions))
            await asyncio.to_thread(
                self._ports.tasks.record_step_started, task.task_id, started_step
            )

        async def end_step(agent: Any) -> None:
            nonlocal ending, unpaid, snapshot, saving
            await recorder.on_step_end(agent)
            now = time.monotonic()
            snapshot = await export_snapshot(session, snapshot)
            taken = capture(agent, snapshot, before.agent_seconds + now - started, secrets)
            if saving is not None:
                await saving  # checkpoints land in order
            # The upload overlaps the next step: a death before it lands replays one more step.
            saving = asyncio.create_task(asyncio.to_thread(self._save_checkpoint, task, taken))
            if agent.history.is_done():
                return
            control = await asyncio.to_thread(self._ports.tasks.control, task.task_id)
            unpaid = await asyncio.to_thread(billing.shortfall, task, before.steps + recorder.count)
            ending = chunk_ending(
                control,
                now=now,
                budget=budget,
                steps_this_chunk=recorder.count,
                steps_total=before.steps + recorder.count,
                page_local=leaves_page_local_state(agent),
                balance_exhausted=unpaid is not None,
            )
            if ending is not None:
                agent.stop()

        async with task_browser(plan, settings, workdir, self._settings, snapshot) as session:
            agent: Agent[Any, Any] = Agent(
                task=task.task,
                llm=llm,
                browser_session=session,
                sensitive_data=secrets,
                output_model_schema=schema_dict_to_pydantic_model(schema) if schema else None,
                available_file_paths=[str(p) for p in inputs] or None,
                injected_agent_state=(
                    agent_state(checkpoint, workdir / "agent-files") if checkpoint else None
                ),
                file_system_path=None if checkpoint else str(workdir / "agent-files"),
                directly_open_url=checkpoint is None,
                task_id=task.task_id,
                use_judge=False,
                generate_gif=False,  # made at the task's end, from every chunk's screenshots
                enable_signal_handler=False,
                calculate_cost=False,
                max_failures=3,
                register_new_step_callback=step_started,
            )
            if checkpoint is not None:
                agent.history = agent_history(checkpoint, agent.AgentOutput)
                interrupted = task.step_started
                if interrupted is not None and interrupted.step == before.steps + 1:
                    agent.state.last_result = [
                        *(agent.state.last_result or []),
                        interrupted_step_note(interrupted),
                    ]
            if not agent.history.is_done() and before.steps < max_steps and seconds_left > 0:
                # One past the limit: browser-use would make step max_steps a done-only step,
                # ending every task "finished". The limit is ours (end_step stops the agent
                # after step max_steps) and the state machine fails the task that reaches it.
                await agent.run(max_steps=max_steps + 1, on_step_end=end_step)
            if saving is not None:
                await saving
            history = agent.history
            steps = before.steps + recorder.count
            gave_up = (
                not history.is_done()
                and ending is None
                and agent.state.consecutive_failures >= agent.settings.max_failures
            )
            outcome, error = self._outcome(history, schema, redactor, gave_up)
            if ending == "failed":
                error = error or unpaid
            state: ChunkState = "done" if history.is_done() else ending or "continue"
            final = (
                state in ("done", "stopped")
                or error is not None
                or steps >= max_steps
                or time.monotonic() >= budget.task_deadline
            )
            browser_data_key = await self._save_browser_data(task, session)
            # The profile keeps the browser as the task leaves it: at its end, or at a pause
            # (a paused task that is then stopped runs no further chunk to save it).
            if final or state == "paused":
                await self._save_profile_state(task, session, snapshot)
        agent_seconds = before.agent_seconds + time.monotonic() - started
        new_files = await asyncio.to_thread(
            self._store_output_files, task, workdir / "downloads", redactor
        )
        outcome = outcome.model_copy(
            update={
                # Earlier chunks' downloads were stored by them; this chunk adds its own.
                "output_files": [
                    *task.output_files,
                    *(n for n in new_files if n not in task.output_files),
                ],
                "browser_data_key": browser_data_key,
            }
        )
        if final:
            gif = await asyncio.to_thread(self._store_gif, task, history, workdir, steps)
            outcome = outcome.model_copy(update={"gif_key": gif})
        await asyncio.to_thread(
            self._ports.tasks.record_outcome, task.task_id, outcome, utc_timestamp(utc_now())
        )
        if error:
            return _result(message, "failed", steps, agent_seconds, error)
        return _result(message, state, steps, agent_seconds)

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

    async def _save_browser_data(self, task: TaskRecord, session: Any) -> str | None:
        """With ``save_browser_data``, keep the browser's cookies as the task's own browser
        data (``GET /task/{id}`` shows them); the key they were saved at, else None."""
        if not task.settings.get("save_browser_data"):
            return None
        state = {"cookies": await export_cookies(session)}
        key = task_browser_data_key(task.owner, task.task_id)
        return await asyncio.to_thread(self._ports.browser_state.save, task.owner, key, state)

    async def _profile_browser(self, task: TaskRecord) -> BrowserSnapshot | None:
        """The task's browser profile's saved state (cookies, localStorage), if it has one."""
        profile_id = task.settings.get("browser_profile_id")
        if not profile_id:
            return None
        saved = await asyncio.to_thread(
            browser_profile_service().load_state, task.owner, str(profile_id)
        )
        return BrowserSnapshot.model_validate(saved) if saved else None

    async def _save_profile_state(
        self, task: TaskRecord, session: Any, previous: BrowserSnapshot | None
    ) -> None:
        """Keep the browser's cookies and localStorage as the task's profile's state, if the
        profile still exists and persists (the domain decides). Not the tabs: a task on the
        profile starts where its own text says."""
        profile_id = task.settings.get("browser_profile_id")
        if not profile_id:
            return
        browser = await export_snapshot(session, previous)
        state = browser.model_dump(mode="json", include={"cookies", "local_storage"})
        await asyncio.to_thread(
            browser_profile_service().save_state, task.owner, str(profile_id), state
        )

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

    def _store_gif(self, task: TaskRecord, history: Any, workdir: Path, steps: int) -> str | None:
        """The task's GIF from every step's screenshot, whichever chunk took it: steps of
        earlier chunks point at no file here, so their screenshots come back from S3."""
        if steps < 2:
            return None
        frames = workdir / "frames"
        frames.mkdir(exist_ok=True)
        for item in history.history:
            number = item.metadata.step_number if item.metadata else None
            if item.state.screenshot_path or number is None:
                continue
            key = self._ports.media.screenshot_key(task.owner, task.task_id, number)
            with contextlib.suppress(Exception):  # a step without a screenshot has no frame
                path = frames / f"{number:04d}.png"
                path.write_bytes(self._ports.media.get(key))
                item.state.screenshot_path = str(path)
        gif = workdir / "task.gif"
        create_history_gif(task=task.task, history=history, output_path=str(gif))
        if not gif.is_file():
            return None
        return self._ports.media.put(
            self._ports.media.gif_key(task.owner, task.task_id), gif.read_bytes(), "image/gif"
        )

    def _load_checkpoint(self, task: TaskRecord) -> Checkpoint | None:
        saved = self._ports.browser_state.load(
            task.owner, task_checkpoint_key(task.owner, task.task_id)
        )
        return Checkpoint.model_validate(saved) if saved else None

    def _save_checkpoint(self, task: TaskRecord, checkpoint: Checkpoint) -> None:
        key = task_checkpoint_key(task.owner, task.task_id)
        self._ports.browser_state.save(task.owner, key, checkpoint.model_dump(mode="json"))

    def _verdict(self, started: float, error: str) -> ChunkResult:
        """A failure retrying cannot fix: the state machine fails the task with ``error``."""
        return ChunkResult(
            state="failed", steps=0, elapsed_seconds=int(time.monotonic() - started), error=error
        )

    async def _heartbeat(self, task_token: str, lease: RenewableLease | None) -> None:
        """Every ``heartbeat_seconds``: the token's heartbeat and the lease's renewal, each
        tried whatever became of the other (a live worker's leases must not lapse)."""
        beats: list[Callable[[], None]] = [lambda: self._ports.callbacks.heartbeat(task_token)]
        if lease is not None:
            beats.append(lease.renew)
        while True:
            for beat in beats:
                try:
                    await asyncio.to_thread(beat)
                except Exception as error:
                    logger.warning("Heartbeat failed: %s", type(error).__name__)
            await asyncio.sleep(self._settings.heartbeat_seconds)


def _result(
    message: RunChunkMessage,
    state: ChunkState,
    steps: int,
    agent_seconds: float,
    error: str | None = None,
) -> ChunkResult:
    """Steps and seconds since the state machine's count: a chunk resumed from a checkpoint
    also reports the work of the attempt that died after writing it."""
    return ChunkResult(
        state=state,
        steps=max(0, steps - message.steps_done),
        elapsed_seconds=max(0, int(agent_seconds) - message.elapsed_seconds),
        error=error,
    )
