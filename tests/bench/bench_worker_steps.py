"""Benchmark: per-step wall time of our worker vs the bare browser-use Agent, and peak memory.

    .venv/bin/python -m tests.bench.bench_worker_steps [--steps 12] [--rounds 3]

Same machine, same run, same scripted model (zero latency), same local site, same script:
``--steps`` steps that each navigate to a page of the site. The bare run is the library as a
user would write it (Agent + BrowserSession, headless Debian Chromium). Ours is the worker's
ChunkRunner on in-process moto: egress guard, redaction, a step record and a screenshot
stored per step, output, GIF. Rounds alternate bare/ours so drift weighs on both.

Per-step time = the mean interval between consecutive step starts: browser launch and the
end of the run (our GIF, output files) are excluded, our per-step storage (which runs between
steps, in the on_step_end hook) is included. Peak memory = the largest sum of PSS over this process and its
children (Chromium), sampled every 100 ms.
"""

import argparse
import asyncio
import json
import os
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.bench import quiet_powertools

os.environ.setdefault("ANONYMIZED_TELEMETRY", "false")
os.environ.setdefault("BROWSER_USE_VERSION_CHECK", "false")

CHROMIUM = "/usr/lib/chromium/chromium"


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as stream:
            for line in stream:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stream:
                    parent = int(stream.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


class PeakMemory:
    """Samples PSS of this process tree in a thread; ``peak_mib`` after ``stop()``."""

    def __init__(self) -> None:
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            total = sum(_pss_kib(pid) for pid in _tree(os.getpid()))
            self.peak_mib = max(self.peak_mib, total / 1024)


def _script(site: Any, steps: int) -> list[Any]:
    pages = [
        [{"navigate": {"url": site.url(f"/page?title=Page+{n}&text=Step+{n}")}}]
        for n in range(1, steps)
    ]
    return [*pages, [{"done": {"text": "Visited every page", "success": True}}]]


def bare_run(llm: Any, site: Any, steps: int, workdir: Path) -> tuple[float, float]:
    from browser_use import Agent, BrowserProfile, BrowserSession, ChatOpenAI

    profile = BrowserProfile(
        executable_path=CHROMIUM,
        headless=True,
        chromium_sandbox=False,
        enable_default_extensions=False,
        args=["--no-sandbox", "--disable-dev-shm-usage"],
        user_data_dir=workdir / "profile",
        downloads_path=workdir / "downloads",
        viewport={"width": 1280, "height": 960},
    )

    async def go() -> tuple[float, float]:
        session = BrowserSession(browser_profile=profile)
        agent: Any = Agent(
            task="Visit the pages",
            llm=ChatOpenAI(model="gpt-4.1", base_url=llm.base_url, api_key="bench"),
            browser_session=session,
            use_judge=False,
            enable_signal_handler=False,
            file_system_path=str(workdir / "fs"),
        )
        with PeakMemory() as memory:
            history = await agent.run(max_steps=steps)
        await session.kill()
        assert history.is_done(), history.errors()
        return _mean_step_interval(history), memory.peak_mib

    return asyncio.run(go())


def worker_run(llm: Any, site: Any, steps: int, stack: Any) -> tuple[float, float]:
    import chunk_runner
    from tests.support import first_chunk
    from worker_settings import OperatorSecrets, WorkerSettings
    from worker_wiring import ports

    response = stack.call(
        "POST", "/api/v1/run-task", body={"task": "Visit the pages", "max_agent_steps": steps}
    )
    task_id = response.json()["id"]
    message = first_chunk(task_id, "alice", steps, 3600)
    runner = chunk_runner.ChunkRunner(
        ports(),
        WorkerSettings(
            chrome_path=CHROMIUM,
            heartbeat_seconds=300,
            message_lease_seconds=600,
            openai_base_url=llm.base_url,
            block_private_networks=False,  # the bench's site is on loopback
        ),
        lambda: OperatorSecrets(provider_keys={"OPENAI_API_KEY": "bench"}, proxy_urls={}),
    )
    agents: list[Any] = []
    original = chunk_runner.StepRecorder.on_step_end

    async def keep_agent(self: Any, agent: Any) -> None:
        agents[:] = [agent]
        await original(self, agent)

    chunk_runner.StepRecorder.on_step_end = keep_agent  # type: ignore[method-assign]
    try:
        with PeakMemory() as memory:
            result = asyncio.run(runner.run(message))
    finally:
        chunk_runner.StepRecorder.on_step_end = original  # type: ignore[method-assign]
    assert result.state == "done", result
    return _mean_step_interval(agents[0].history), memory.peak_mib


def _mean_step_interval(history: Any) -> float:
    starts = [item.metadata.step_start_time for item in history.history]
    return (starts[-1] - starts[0]) / (len(starts) - 1)


def _summary(name: str, values: list[float], unit: str) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"| {name} | {statistics.median(values):.3f} {unit} | {p95:.3f} {unit} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import sys

    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root / "functions" / "agent_worker"))
    from tests.fakes import ScriptedLLM, TestSite
    from tests.support import in_process_stack

    bare: list[float] = []
    ours: list[float] = []
    bare_mem: list[float] = []
    ours_mem: list[float] = []
    with ScriptedLLM() as llm, TestSite() as site, pytest.MonkeyPatch.context() as monkeypatch:
        quiet_powertools(monkeypatch)
        with in_process_stack(monkeypatch) as stack:
            import tempfile

            runs: list[tuple[str, Callable[[], tuple[float, float]]]] = []
            for _ in range(args.rounds):
                runs.append(
                    ("bare", lambda: bare_run(llm, site, args.steps, Path(tempfile.mkdtemp())))
                )
                runs.append(("ours", lambda: worker_run(llm, site, args.steps, stack)))
            for name, run in runs:
                llm.reset()
                llm.set_script(_script(site, args.steps))
                per_step, peak = run()
                (bare if name == "bare" else ours).append(per_step)
                (bare_mem if name == "bare" else ours_mem).append(peak)
                print(
                    f"  {name}: {per_step * 1000:.0f} ms/step, peak PSS {peak:.0f} MiB", flush=True
                )

    print(
        f"\nper-step wall time, {args.steps} steps x {args.rounds} rounds each, {time.strftime('%Y-%m-%d')}"
    )
    print("| what | median | p95 |")
    print("|---|---|---|")
    print(_summary("bare browser-use Agent, s/step", bare, "s"))
    print(_summary("our worker (ChunkRunner), s/step", ours, "s"))
    print(
        f"| ratio ours / bare (medians) | {statistics.median(ours) / statistics.median(bare):.3f} | |"
    )
    print(_summary("peak PSS, bare (python + chromium)", bare_mem, "MiB"))
    print(_summary("peak PSS, worker (python + chromium)", ours_mem, "MiB"))
    print(json.dumps({"bare": bare, "ours": ours, "bare_mem": bare_mem, "ours_mem": ours_mem}))


if __name__ == "__main__":
    main()
