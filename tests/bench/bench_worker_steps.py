"""Benchmark: per-step wall time of our worker vs the bare browser-use Agent, and peak memory.

    .venv/bin/python -m tests.bench.bench_worker_steps [--steps 12] [--rounds 3]
        [--variants bare,ours,allowlist,adblock] [--json]

Same machine, same run, same scripted model (zero latency), same local site, same script:
``--steps`` steps that each navigate to a page of the site. The bare run is the library as a
user would write it (Agent + BrowserSession, headless Debian Chromium). Ours is the worker's
ChunkRunner on in-process moto: egress guard, redaction, a step record and a screenshot
stored per step, output, GIF. Rounds alternate bare/ours so drift weighs on both.

Variants of ours (``WORKER_VARIANTS``): ``ours`` with neither the allowlist nor adblock;
``allowlist``: ``allowed_domains`` set and ``BLOCK_PRIVATE_NETWORKS`` on, as in Lambda — every
request crosses the allowlisting proxy, which checks each destination's addresses (here
loopback counts as public, or the local site would be refused); ``adblock``: ``use_adblock``
with the full EasyList (braveblock's bundled copy).

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
import tempfile
import threading
import time
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


def bare_browser_profile(workdir: Path) -> Any:
    """The bare library's browser as a user would set it up (headless Debian Chromium, as
    root, offline), the baseline of every bare run."""
    from browser_use import BrowserProfile

    return BrowserProfile(
        executable_path=CHROMIUM,
        headless=True,
        chromium_sandbox=False,
        enable_default_extensions=False,
        args=["--no-sandbox", "--disable-dev-shm-usage"],
        user_data_dir=workdir / "profile",
        downloads_path=workdir / "downloads",
        viewport={"width": 1280, "height": 960},
    )


def bare_run(llm: Any, site: Any, steps: int, workdir: Path) -> tuple[float, float]:
    from browser_use import Agent, BrowserSession, ChatOpenAI

    profile = bare_browser_profile(workdir)

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


# What each variant of our worker changes: the task's fields, the worker's settings.
WORKER_VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "ours": ({"use_adblock": False}, {"block_private_networks": False}),
    "allowlist": (
        {"use_adblock": False, "allowed_domains": ["127.0.0.1"]},
        {"block_private_networks": True},
    ),
    "adblock": ({"use_adblock": True}, {"block_private_networks": False}),
}


def easylist_file() -> str:
    """The full EasyList braveblock ships, as the file ADBLOCK_RULES_PATH names in the image."""
    import gzip

    import braveblock  # type: ignore[import-untyped]

    rules = Path(tempfile.mkdtemp()) / "easylist.txt"
    bundled = Path(braveblock.__file__).parent / "easylist.txt.gz"
    rules.write_bytes(gzip.decompress(bundled.read_bytes()))
    return str(rules)


def worker_run(
    llm: Any, site: Any, steps: int, stack: Any, variant: str = "ours"
) -> tuple[float, float]:
    import chunk_runner
    from browser_tasks.adapters import network_addresses
    from tests.support import first_chunk
    from worker_settings import OperatorSecrets, WorkerSettings
    from worker_wiring import ports

    task_fields, settings = WORKER_VARIANTS[variant]
    if variant == "adblock":
        settings = {**settings, "adblock_rules_path": easylist_file()}
    response = stack.call(
        "POST",
        "/api/v1/run-task",
        body={"task": "Visit the pages", "max_agent_steps": steps, **task_fields},
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
            **settings,
        ),
        lambda: OperatorSecrets(provider_keys={"OPENAI_API_KEY": "bench"}, proxy_urls={}),
    )
    agents: list[Any] = []
    original = chunk_runner.StepRecorder.on_step_end

    async def keep_agent(self: Any, agent: Any) -> None:
        agents[:] = [agent]
        await original(self, agent)

    public = network_addresses.is_public_address
    chunk_runner.StepRecorder.on_step_end = keep_agent  # type: ignore[method-assign]

    # The site is on loopback, which Lambda's proxy refuses: here it passes the same checks.
    def loopback_or_public(address: str) -> bool:
        return address.startswith("127.") or public(address)

    network_addresses.is_public_address = loopback_or_public
    try:
        with PeakMemory() as memory:
            result = asyncio.run(runner.run(message))
    finally:
        chunk_runner.StepRecorder.on_step_end = original  # type: ignore[method-assign]
        network_addresses.is_public_address = public
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
    parser.add_argument(
        "--variants", default="bare,ours", help="of bare, " + ", ".join(WORKER_VARIANTS)
    )
    parser.add_argument("--json", action="store_true", help="one JSON line, not the table")
    args = parser.parse_args()
    variants = args.variants.split(",")

    import sys

    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root / "functions" / "agent_worker"))
    from tests.fakes import ScriptedLLM, TestSite
    from tests.support import in_process_stack

    per_step: dict[str, list[float]] = {v: [] for v in variants}
    peak: dict[str, list[float]] = {v: [] for v in variants}
    with ScriptedLLM() as llm, TestSite() as site, pytest.MonkeyPatch.context() as monkeypatch:
        quiet_powertools(monkeypatch)
        with in_process_stack(monkeypatch) as stack:
            # Rounds alternate the variants, so drift weighs on each alike.
            for _ in range(args.rounds):
                for variant in variants:
                    llm.reset()
                    llm.set_script(_script(site, args.steps))
                    if variant == "bare":
                        seconds, mib = bare_run(llm, site, args.steps, Path(tempfile.mkdtemp()))
                    else:
                        seconds, mib = worker_run(llm, site, args.steps, stack, variant)
                    per_step[variant].append(seconds)
                    peak[variant].append(mib)
                    print(
                        f"  {variant}: {seconds * 1000:.0f} ms/step, peak PSS {mib:.0f} MiB",
                        file=sys.stderr,
                        flush=True,
                    )

    if args.json:
        print(json.dumps({"per_step": per_step, "peak_mib": peak}))
        return
    print(
        f"\nper-step wall time, {args.steps} steps x {args.rounds} rounds each, {time.strftime('%Y-%m-%d')}"
    )
    print("| what | median | p95 |")
    print("|---|---|---|")
    for variant in variants:
        print(_summary(f"{variant}, s/step", per_step[variant], "s"))
    for variant in variants:
        print(_summary(f"peak PSS, {variant} (python + chromium)", peak[variant], "MiB"))


if __name__ == "__main__":
    main()
