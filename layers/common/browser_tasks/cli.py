"""``browser-tasks``: run the local stack, manage API keys and balances."""

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from browser_tasks.caller_commands import add_caller_commands, run_caller_command

DEMO_TASK = {
    "task": "Open https://example.com and tell me the title of the page.",
    "max_agent_steps": 5,
    "metadata": {"source": "browser-tasks local --demo"},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="browser-tasks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="run the whole stack on an embedded AWS (moto)")
    local.add_argument("--host", default="127.0.0.1")
    local.add_argument("--port", type=int, default=8000, help="the API's port")
    local.add_argument("--aws-port", type=int, default=0, help="moto's port (default: port + 1)")
    local.add_argument("--stack-name", default="browser-tasks")
    local.add_argument("--owner", default="local", help="owner of the local API key")
    local.add_argument(
        "--project-root", type=Path, default=_project_root(), help="where template.yaml is"
    )
    local.add_argument("--demo", action="store_true", help="submit a sample task once it is up")
    local.add_argument(
        "--worker-concurrency",
        type=_positive_int,
        default=1,
        metavar="N",
        help="AgentWorker instances running at once, each its own process (default 1)",
    )
    local.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="template.yaml parameters, as for sam deploy (e.g. ChunkMaxSteps=2)",
    )

    keys = commands.add_parser("keys", help="API keys").add_subparsers(dest="keys", required=True)
    create = keys.add_parser(
        "create", help="mint a key for an owner (against AWS_ENDPOINT_URL or real AWS)"
    )
    create.add_argument("--owner", required=True)
    create.add_argument("--stack-name", default="browser-tasks")

    balance = commands.add_parser("balance", help="owners' balances").add_subparsers(
        dest="balance", required=True
    )
    add = balance.add_parser(
        "add", help="credit an owner (against AWS_ENDPOINT_URL or real AWS); prints the balance"
    )
    add.add_argument("--owner", required=True)
    add.add_argument("--cents", type=int, required=True)
    add.add_argument("--stack-name", default="browser-tasks")

    add_caller_commands(commands)  # run, get, list, stop, pause, resume, files

    args = parser.parse_args(argv)
    if "caller_command" in args:
        return run_caller_command(args)
    if args.command == "local":
        return _run_local(args)
    if args.command == "balance":
        return _credit(args.owner, args.cents, args.stack_name)
    return _create_key(args.owner, args.stack_name)


def _project_root() -> Path:
    env = os.environ.get("BROWSER_TASKS_ROOT")
    if env:
        return Path(env)
    # An editable install runs from the checkout: layers/common/browser_tasks/cli.py.
    return Path(__file__).resolve().parents[3]


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, not {text!r}")
    return int(text)


def _key_values(pairs: list[str]) -> dict[str, str]:
    parsed = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise SystemExit(f"--parameter-overrides takes KEY=VALUE, not {pair!r}")
        parsed[key] = value
    return parsed


def _run_local(args: argparse.Namespace) -> int:
    from browser_tasks.local.stack import LocalStack, LocalStackConfig

    if not (args.project_root / "template.yaml").is_file():
        print(f"No template.yaml under {args.project_root}; pass --project-root", file=sys.stderr)
        return 2
    stack = LocalStack(
        LocalStackConfig(
            project_root=args.project_root,
            host=args.host,
            port=args.port,
            aws_port=args.aws_port,
            stack_name=args.stack_name,
            api_key=os.environ.get("BROWSER_TASKS_API_KEY") or None,
            owner=args.owner,
            parameter_overrides=_key_values(args.parameter_overrides),
            worker_concurrency=args.worker_concurrency,
        )
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    try:
        stack.start()
    except ValueError as error:  # a bad --parameter-overrides, or a template it cannot read
        stack.stop()
        print(f"browser-tasks local: {error}", file=sys.stderr)
        return 2
    print(
        f"browser-tasks local is up\n"
        f"  API          {stack.api_url}\n"
        f"  API key      {stack.api_key}  (owner {args.owner})\n"
        f"  AWS endpoint {stack.config.aws_endpoint}  (AWS_ENDPOINT_URL for the aws CLI, boto3)\n"
        f"Try:\n  curl -s -X POST {stack.api_url}/run-task \\\n"
        f"    -H 'Authorization: Bearer {stack.api_key}' -H 'Content-Type: application/json' \\\n"
        f"    -d '{json.dumps(DEMO_TASK)}'\n"
        f"Ctrl-C stops everything.\n"
        f"ready",
        flush=True,
    )
    if args.demo:
        threading.Thread(
            target=_demo, args=(stack.api_url, stack.api_key, args.owner), daemon=True
        ).start()
    stopping.wait()
    print("stopping", flush=True)
    stack.stop()
    return 0


def _demo(api_url: str, api_key: str, owner: str) -> None:
    """Submit the sample task over HTTP, then follow it to its end and say how it ended."""
    import time

    import requests

    from browser_tasks.services import task_service

    headers = {"Authorization": f"Bearer {api_key}"}
    response = requests.post(f"{api_url}/run-task", json=DEMO_TASK, headers=headers, timeout=30)
    print(f"POST /run-task → {response.status_code} {response.text}", flush=True)
    if not response.ok:
        return
    task_id = response.json()["id"]
    status, deadline = "", time.monotonic() + 300
    while status not in ("finished", "failed", "stopped") and time.monotonic() < deadline:
        current = requests.get(f"{api_url}/task/{task_id}/status", headers=headers, timeout=30)
        if current.json() != status:
            status = current.json()
            print(f"GET /task/{task_id}/status → {current.text}", flush=True)
        time.sleep(0.5)
    record = task_service().get(owner, task_id)
    if record.failure_reason:
        print(f"  failed because: {record.failure_reason}", flush=True)
        if "API_KEY" in record.failure_reason:
            print("  (set OPENAI_API_KEY, or OPENAI_BASE_URL for any OpenAI-compatible server,")
            print("   before `browser-tasks local`)", flush=True)
    if record.output:
        print(f"  output: {record.output}", flush=True)


def _stack_resources(stack_name: str) -> dict[str, str] | None:
    """The stack's resource names (the SSM parameter its template writes), or None, said."""
    from browser_tasks.adapters import aws_clients

    parameter = f"/{stack_name}/resources"
    try:
        value = aws_clients.ssm().get_parameter(Name=parameter)["Parameter"]["Value"]
    except Exception as error:
        print(f"Cannot read {parameter} (is the stack deployed/running?): {error}", file=sys.stderr)
        return None
    resources: dict[str, str] = json.loads(value)
    return resources


def _create_key(owner: str, stack_name: str) -> int:
    from browser_tasks.adapters.dynamodb_api_keys import DynamoApiKeyRepository
    from browser_tasks.domain.api_keys import ApiKeyService
    from browser_tasks.services import utc_now

    resources = _stack_resources(stack_name)
    if resources is None:
        return 1
    service = ApiKeyService(keys=DynamoApiKeyRepository(resources["ApiKeysTable"]), clock=utc_now)
    try:
        key = service.mint(owner)
    except ValueError as error:
        print(str(error), file=sys.stderr)
        return 2
    print(key)
    return 0


def _credit(owner: str, cents: int, stack_name: str) -> int:
    from browser_tasks.adapters.dynamodb_balances import DynamoBalances
    from browser_tasks.domain.metering import credit

    resources = _stack_resources(stack_name)
    if resources is None:
        return 1
    balances = DynamoBalances(resources["OwnersTable"], resources["TasksTable"])
    try:
        balance = credit(balances, owner, cents)
    except ValueError as error:
        print(str(error), file=sys.stderr)
        return 2
    print(balance)
    return 0


if __name__ == "__main__":
    sys.exit(main())
