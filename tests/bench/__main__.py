"""The whole benchmark, one table: ``scripts/bench`` (``python -m tests.bench``) from a checkout.

Each part runs in its own process (so each memory figure is that process tree's alone) and
hands back its raw figures as JSON; this prints every figure as median and p95 over the
repeated runs, each timing beside its baseline measured in the same run, then the cost model.
``--quick`` runs each part briefly (to try the command, not to quote the figures).
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from tests.bench import cost_model
from tests.bench.bench_worker_steps import CHROMIUM
from tests.conftest import PROJECT_ROOT

COST_STEPS = (10, 75)  # the tasks the cost model prices; 2 and 10 steps are measured
MEASURED_STEPS = (2, 10)


def p95(values: list[float]) -> float:
    """Nearest rank: with fewer than 20 values, the largest."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def run_part(module: str, *arguments: str) -> dict[str, Any]:
    """``python -m tests.bench.<module> ...``; its last stdout line, as JSON."""
    started = time.monotonic()
    # Its logs (the agent's, the stack's) go to a file, named if the part fails.
    log = Path(tempfile.mkstemp(prefix=f"bench-{module}-", suffix=".log")[1])
    print(f"- {module} {' '.join(arguments)}", file=sys.stderr, flush=True)
    with log.open("w") as stderr:
        finished = subprocess.run(
            [sys.executable, "-m", f"tests.bench.{module}", *arguments],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            check=False,
        )
    if finished.returncode != 0:
        raise SystemExit(f"{module} failed ({finished.returncode}); its log: {log}")
    log.unlink()
    print(f"  ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
    result: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    return result


def machine() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), "?")
    with open("/proc/meminfo") as meminfo:
        kib = int(next(line.split()[1] for line in meminfo if line.startswith("MemTotal")))
    chromium = subprocess.run(
        [CHROMIUM, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; {os.cpu_count()} cores ({cpu}), "
        f"{kib / 1024 / 1024:.0f} GiB RAM; {chromium}, Python {platform.python_version()}, "
        f"browser-use {version('browser-use')}, moto {version('moto')}, "
        f"Powertools {version('aws-lambda-powertools')}"
    )


def row(what: str, values: list[float], unit: str, baseline: list[float] | None = None) -> str:
    scale, digits = {"ms": (1000, 1), "s": (1, 2), "MiB": (1, 0)}[unit]
    shown = [v * scale for v in values]
    cells = [
        what,
        f"{statistics.median(shown):.{digits}f} {unit}",
        f"{p95(shown):.{digits}f} {unit}",
    ]
    if baseline:
        base = statistics.median(baseline) * scale
        cells += [f"{base:.{digits}f} {unit}", f"{statistics.median(shown) / base:.2f}"]
    else:
        cells += ["", ""]
    return "| " + " | ".join(cells) + " |"


def template_sizes() -> tuple[dict[str, int], dict[str, int]]:
    """Each function's configured memory and ephemeral storage (MB), as template.yaml says."""
    from browser_tasks.local.template import load_template

    template = load_template(PROJECT_ROOT / "template.yaml")
    default = int(template.get("Globals", {}).get("Function", {}).get("MemorySize", 128))
    memory, ephemeral = {}, {}
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            properties = resource.get("Properties", {})
            memory[name] = int(properties.get("MemorySize", default))
            ephemeral[name] = int(properties.get("EphemeralStorage", {}).get("Size", 512))
    return memory, ephemeral


def print_cost(measured: dict[str, Any]) -> None:
    from browser_tasks.domain.pricing import PriceList

    memory, ephemeral = template_sizes()
    short, long = (
        cost_model.TaskCounts.from_json(measured[str(n)]["counts"]) for n in MEASURED_STEPS
    )
    counts = {
        steps: cost_model.extrapolate(short, MEASURED_STEPS[0], long, MEASURED_STEPS[1], steps)
        for steps in COST_STEPS
    }
    costs = {steps: cost_model.per_task_cost(c, memory, ephemeral) for steps, c in counts.items()}
    print(
        f"\nCost per task on AWS (us-east-1 list prices: {cost_model.PRICES_AS_OF}), from the "
        f"requests and Lambda durations of a {MEASURED_STEPS[0]}-step and a "
        f"{MEASURED_STEPS[1]}-step task run alone; the {COST_STEPS[1]}-step figure extrapolates "
        "the per-step difference between the two. Memory as configured: "
        + ", ".join(f"{f} {memory[f]} MB" for f in sorted(long.lambda_seconds))
        + ". LLM tokens excluded (the model provider's bill), as are logs, X-Ray, storage over "
        "time and data transfer."
    )
    print(f"\n| USD per task | {' | '.join(f'{n} steps' for n in COST_STEPS)} |")
    print("|---|" + "---|" * len(COST_STEPS))
    for part in vars(costs[COST_STEPS[0]]):
        cells = " | ".join(f"{getattr(costs[n], part):.6f}" for n in COST_STEPS)
        print(f"| {part.replace('_', ' ')} | {cells} |")
    print(f"| **total on AWS** | {' | '.join(f'**{costs[n].total:.4f}**' for n in COST_STEPS)} |")
    prices = PriceList()
    for model in ("gpt-4.1", "gpt-4.1-mini"):
        cells = " | ".join(f"{prices.task_cost_cents(model, n) / 100:.2f}" for n in COST_STEPS)
        print(f"| v1 hosted price, {model} | {cells} |")
    print(f"\nCounts per task ({MEASURED_STEPS[1]} steps measured; {COST_STEPS[1]} extrapolated):")
    print(f"\n| what | {' | '.join(f'{n} steps' for n in COST_STEPS)} |")
    print("|---|" + "---|" * len(COST_STEPS))
    for function in sorted(long.lambda_seconds):
        cells = " | ".join(
            f"{c.lambda_invocations.get(function, 0):.0f} x, {c.lambda_seconds.get(function, 0):.1f} s"
            for c in counts.values()
        )
        print(f"| Lambda {function} | {cells} |")
    print(
        f"| Step Functions transitions | {' | '.join(f'{c.state_transitions:.0f}' for c in counts.values())} |"
    )
    print(
        "| DynamoDB write / read units | "
        + " | ".join(
            f"{c.dynamodb_write_units:.0f} / {c.dynamodb_read_units:.0f}" for c in counts.values()
        )
        + " |"
    )
    for service in sorted({s for s, _ in long.requests}):
        cells = " | ".join(
            f"{sum(n for (s, _), n in c.requests.items() if s == service):.0f}"
            for c in counts.values()
        )
        operations = ", ".join(sorted(o for s, o in long.requests if s == service))
        print(f"| {service} requests ({operations}) | {cells} |")


def main() -> None:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run")
    args = parser.parse_args()
    calls, steps, rounds, first = (30, 6, 1, 1) if args.quick else (300, 10, 3, 3)
    started = time.monotonic()
    api = run_part("bench_run_task", "--calls", str(calls), "--json")
    worker = run_part(
        "bench_worker_steps",
        *("--steps", str(steps), "--rounds", str(rounds), "--json"),
        *("--variants", "bare,ours,allowlist,adblock"),
    )
    alone = run_part("bench_local_stack", "--first-step", str(first), "--cost")
    batches = "1,2" if args.quick else "1,2,4,8"
    together = run_part(
        "bench_local_stack", "--concurrency", batches.rsplit(",", 1)[-1], "--throughput", batches
    )

    print(f"\nbrowser-tasks bench — {machine()}; {time.monotonic() - started:.0f} s in all\n")
    print("| figure | median | p95 | baseline (median) | ratio |")
    print("|---|---|---|---|---|")
    handler, bare_calls = ([v / 1000 for v in api[k]] for k in ("handler_ms", "bare_ms"))
    print(
        row(
            f"1. run-task API latency ({calls} calls) vs the bare AWS calls it makes",
            handler,
            "ms",
            bare_calls,
        )
    )
    first_step = alone["first_step"]
    print(
        row(
            f"2. submit → first step recorded, local stack ({first} tasks one at a time) vs bare Agent start → first step",
            first_step["ours"],
            "s",
            first_step["bare"],
        )
    )
    per_step, peak = worker["per_step"], worker["peak_mib"]
    print(
        row(
            f"3. per-step wall time, our worker vs bare Agent ({steps} steps x {rounds}; target ≤ 1.10)",
            per_step["ours"],
            "s",
            per_step["bare"],
        )
    )
    for variant, what in (
        ("allowlist", "network allowlist (proxy + resolver rules)"),
        ("adblock", "adblock (EasyList, CDP interception)"),
    ):
        extra = [a - b for a, b in zip(per_step[variant], per_step["ours"], strict=True)]
        print(
            row(
                f"4. per step with the {what} vs without", per_step[variant], "ms", per_step["ours"]
            )
        )
        print(row(f"4. extra per step of the {what} (paired rounds)", extra, "ms"))
    print(
        row(
            "5. peak PSS, our worker (python + Chromium) vs bare Agent",
            peak["ours"],
            "MiB",
            peak["bare"],
        )
    )
    print(
        row(
            f"5. peak PSS, API function process after {calls + 10} run-task calls (with in-process moto)",
            [api["peak_mib"]],
            "MiB",
        )
    )
    throughput = together["throughput"]
    alone_time = throughput["1"]["per_task"]
    for n, batch in throughput.items():
        per_minute = len(batch["per_task"]) / batch["wall"] * 60
        print(
            row(
                f"6. {n} at once ({n} worker instance{'s' if n != '1' else ''}): {per_minute:.1f} tasks/min; per-task submit → end vs 1 alone",
                batch["per_task"],
                "s",
                alone_time,
            )
        )
    print_cost(alone["cost"])


if __name__ == "__main__":
    main()
