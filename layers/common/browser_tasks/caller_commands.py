"""The ``browser-tasks`` commands for API callers: run, get, list, stop, pause, resume, files.

Parsing and printing only; the HTTP calls are ``client.BrowserTasksClient``'s. Exit codes:
0 done (``--wait``: the task finished), 1 the task failed or was stopped, 2 a usage or HTTP
error (the API's ``detail`` is printed), 130 interrupted (the task itself keeps running).
"""

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, get_args

from browser_tasks.models.run_task import LlmModel, ProxyCountryCode, RunTaskRequest
from browser_tasks.models.task import TaskStatus
from browser_tasks.models.task_view import TaskStepView, TaskView

if TYPE_CHECKING:  # the client needs `requests` (the client extra): imported when used
    from browser_tasks.client import BrowserTasksClient

DEFAULT_ENDPOINT = "http://127.0.0.1:8000/api/v1"  # what `browser-tasks local` serves
EXIT_OK = 0
EXIT_TASK_UNSUCCESSFUL = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
POLL_SECONDS = 1.0
ENDPOINT_VARIABLE = "BROWSER_TASKS_ENDPOINT"
API_KEY_VARIABLE = "BROWSER_TASKS_API_KEY"
# run-task's yes/no fields, each as --flag / --no-flag (unset: the API's default).
RUN_TASK_SWITCHES = (
    "save_browser_data",
    "enable_public_share",
    "use_adblock",
    "use_proxy",
    "highlight_elements",
)


class UsageError(Exception):
    """A problem with what was asked, found before (or instead of) calling the API."""


Command = Callable[["BrowserTasksClient", argparse.Namespace, TextIO], int]


def add_caller_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Register the caller commands on the ``browser-tasks`` parser."""
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument(
        "--endpoint", help=f"the API's base URL (${ENDPOINT_VARIABLE}; default {DEFAULT_ENDPOINT})"
    )
    connection.add_argument("--api-key", help=f"your API key (${API_KEY_VARIABLE})")

    def command(name: str, run: Command, help: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, parents=[connection], help=help, description=help)
        parser.set_defaults(caller_command=run)
        return parser

    run = command("run", _run, "submit a task; with --wait, follow it to its end")
    _add_run_task_options(run)
    run.add_argument("--wait", action="store_true", help="follow it: steps, then the outcome")

    get = command("get", _get, "show a task: status, steps, output, files")
    get.add_argument("task_id")
    get.add_argument("--wait", action="store_true", help="follow it to its end")
    get.add_argument("--json", action="store_true", help="print the API's answer as JSON")

    listing = command("list", _list, "list your tasks, newest first")
    listing.add_argument("--status", choices=[s.value for s in TaskStatus])
    listing.add_argument(
        "--metadata", type=_key_value, action="append", metavar="KEY=VALUE", help="repeatable"
    )
    listing.add_argument("--page", type=int, default=1)
    listing.add_argument("--limit", type=int, default=10, help="tasks per page (at most 100)")

    for name in ("stop", "pause", "resume"):
        command(name, _control, f"{name} a task").add_argument("task_id")

    files = command("files", _files, "list a task's output files, or download them")
    files.add_argument("task_id")
    files.add_argument("--download", type=Path, metavar="DIR", help="save every file in DIR")


def run_caller_command(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Run the parsed caller command; its exit code."""
    from browser_tasks.client import ApiError, BrowserTasksClient

    api_key = args.api_key or os.environ.get(API_KEY_VARIABLE)
    if not api_key:
        print(f"browser-tasks: pass --api-key, or set {API_KEY_VARIABLE}", file=sys.stderr)
        return EXIT_USAGE
    endpoint = args.endpoint or os.environ.get(ENDPOINT_VARIABLE) or DEFAULT_ENDPOINT
    client = BrowserTasksClient(endpoint, api_key)
    try:
        code: int = args.caller_command(client, args, out)
    except ApiError as error:
        print(f"browser-tasks: {error.message}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as error:
        print(f"browser-tasks: {error}", file=sys.stderr)
        return EXIT_USAGE
    return code


# -- run ----------------------------------------------------------------------------------------


def _add_run_task_options(parser: argparse.ArgumentParser) -> None:
    """One option per ``RunTaskRequest`` field, its ``dest`` the field's name (a test checks
    that none is missing); left out, the API's default applies."""
    parser.add_argument("task", help="what the agent should do, in plain language")
    parser.add_argument("--llm-model", choices=get_args(LlmModel))
    parser.add_argument("--max-agent-steps", type=int, metavar="N")
    parser.add_argument(
        "--time-limit-seconds", type=int, metavar="N", help="agent time before the task fails"
    )
    parser.add_argument(
        "--allowed-domain",
        dest="allowed_domains",
        action="append",
        metavar="HOST",
        help="a host the browser may reach (example.com, *.example.com); repeatable",
    )
    parser.add_argument(
        "--structured-output-json",
        type=_json_text_or_file,
        metavar="FILE|JSON",
        help="a JSON Schema the output must match, inline or in a file",
    )
    parser.add_argument(
        "--metadata", type=_key_value, action="append", metavar="KEY=VALUE", help="repeatable"
    )
    parser.add_argument(
        "--secret",
        dest="secrets",
        type=_secret,
        action="append",
        metavar="NAME=VALUE|NAME",
        help="a value the agent may type but never sees; NAME alone reads $NAME (keeps it out "
        "of your shell history); repeatable",
    )
    parser.add_argument(
        "--included-file-name",
        dest="included_file_names",
        action="append",
        metavar="NAME",
        help="an uploaded file to offer the agent; repeatable",
    )
    parser.add_argument("--browser-profile-id", metavar="ID")
    parser.add_argument("--proxy-country-code", choices=get_args(ProxyCountryCode))
    parser.add_argument("--browser-viewport-width", type=int, metavar="PX")
    parser.add_argument("--browser-viewport-height", type=int, metavar="PX")
    for field in RUN_TASK_SWITCHES:
        parser.add_argument(
            f"--{field.replace('_', '-')}", action=argparse.BooleanOptionalAction, default=None
        )


def run_task_body(args: argparse.Namespace) -> dict[str, Any]:
    """The run-task request the options describe: only what was given."""
    body: dict[str, Any] = {}
    for field in RunTaskRequest.model_fields:
        value = getattr(args, field, None)
        if value is None:
            continue
        if field in ("metadata", "secrets"):
            value = _pairs_to_dict(f"--{'secret' if field == 'secrets' else field}", value)
        body[field] = value
    return body


def _run(client: "BrowserTasksClient", args: argparse.Namespace, out: TextIO) -> int:
    task_id = client.run_task(run_task_body(args))
    if not args.wait:
        print(task_id, file=out)
        return EXIT_OK
    print(f"{task_id} submitted; following it (Ctrl-C stops following, not the task)", file=out)
    return _follow(client, task_id, out)


# -- get ----------------------------------------------------------------------------------------


def _get(client: "BrowserTasksClient", args: argparse.Namespace, out: TextIO) -> int:
    if args.wait:
        return _follow(client, args.task_id, out)
    view = client.task(args.task_id)
    if args.json:
        print(view.model_dump_json(indent=2), file=out)
        return EXIT_OK
    print(f"{view.id}  {view.status.value}", file=out)
    print(f"task:      {view.task}", file=out)
    times = [("created", view.created_at), ("started", view.started_at)]
    times.append(("finished", view.finished_at))
    print("  ".join(f"{name} {at}" for name, at in times if at), file=out)
    print(f"steps:     {view.steps_count}    cost: {view.cost_cents} cents", file=out)
    if view.metadata:
        pairs = ", ".join(f"{k}={v}" for k, v in view.metadata.items())
        print(f"metadata:  {pairs}", file=out)
    for step in view.steps:
        _print_step(step, out)
    _print_outcome(view, out)
    return EXIT_OK


def _follow(client: "BrowserTasksClient", task_id: str, out: TextIO) -> int:
    """Print the task's status changes and each new step until it ends, then its outcome.

    Ctrl-C only stops following: the task runs on, and how to stop it is said.
    """
    status: TaskStatus | None = None
    last_step = 0
    try:
        while True:
            view = client.task(task_id)
            for step in sorted(view.steps, key=lambda s: s.step):
                if step.step > last_step:
                    _print_step(step, out)
                    last_step = step.step
            if view.status != status:
                status = view.status
                print(f"status: {status.value}", file=out, flush=True)
            if status.is_terminal:
                _print_outcome(view, out)
                return EXIT_OK if status == TaskStatus.FINISHED else EXIT_TASK_UNSUCCESSFUL
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        print(
            f"\nStopped following {task_id}; the task keeps running.\n"
            f"  stop it:      browser-tasks stop {task_id}\n"
            f"  follow again: browser-tasks get {task_id} --wait",
            file=out,
            flush=True,
        )
        return EXIT_INTERRUPTED


def _print_step(step: TaskStepView, out: TextIO) -> None:
    print(f"step {step.step:>3}  {step.next_goal or '(no goal given)'}", file=out)
    print(f"          {step.url}", file=out, flush=True)


def _print_outcome(view: TaskView, out: TextIO) -> None:
    if view.status == TaskStatus.FINISHED and view.is_success is False:
        print("the agent reports that it did not succeed", file=out)
    if view.failure_reason:
        print(f"reason:    {view.failure_reason}", file=out)
    if view.output is not None:
        print(f"output:    {view.output}", file=out)
    if view.structured_output is not None:
        print(f"structured output: {json.dumps(view.structured_output)}", file=out)
    if view.output_files:
        print(f"output files: {', '.join(view.output_files)}", file=out)
        print(f"  download them: browser-tasks files {view.id} --download DIR", file=out)
    for note in view.notes:
        print(f"note:      {note}", file=out)
    out.flush()


# -- list, controls, files ---------------------------------------------------------------------


def _list(client: "BrowserTasksClient", args: argparse.Namespace, out: TextIO) -> int:
    status = TaskStatus(args.status) if args.status else None
    metadata = _pairs_to_dict("--metadata", args.metadata or [])
    page = client.tasks(page=args.page, limit=args.limit, status=status, metadata=metadata)
    for task in page.tasks:
        text = " ".join(task.task.split())
        short = text if len(text) <= 60 else text[:59] + "…"
        print(f"{task.id}  {task.status.value:<8}  {task.created_at}  {short}", file=out)
    print(f"page {page.page} of {page.total_pages}, {page.total_count} task(s) in all", file=out)
    return EXIT_OK


def _control(client: "BrowserTasksClient", args: argparse.Namespace, out: TextIO) -> int:
    action = {"stop": client.stop, "pause": client.pause, "resume": client.resume}[args.command]
    action(args.task_id)
    print(f"{args.command} asked for {args.task_id}", file=out)
    return EXIT_OK


def _files(client: "BrowserTasksClient", args: argparse.Namespace, out: TextIO) -> int:
    names = client.task(args.task_id).output_files
    if args.download is None:
        for name in names:
            print(name, file=out)
        return EXIT_OK
    args.download.mkdir(parents=True, exist_ok=True)
    for name in names:
        # The API checks output file names; a name that would leave DIR is never written.
        if Path(name).name != name or name in ("", ".", ".."):
            raise UsageError(f"refusing to write output file {name!r} outside {args.download}")
        destination = args.download / name
        size = client.download(client.output_file_url(args.task_id, name), destination)
        print(f"{destination}  ({size} bytes)", file=out)
    return EXIT_OK


# -- option values ------------------------------------------------------------------------------


def _key_value(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, not {text!r}")
    return key, value


def _secret(text: str) -> tuple[str, str]:
    """``NAME=VALUE``, or ``NAME`` alone for the value of the environment variable NAME."""
    if "=" in text:
        return _key_value(text)
    value = os.environ.get(text)
    if not value:
        raise argparse.ArgumentTypeError(
            f"--secret {text}: set the environment variable {text}, or pass NAME=VALUE"
        )
    return text, value


def _json_text_or_file(text: str) -> str:
    """A JSON document given inline or as a file's path; sent as text, the API checks it."""
    path = Path(text)
    if not text.lstrip().startswith("{") and path.is_file():
        return path.read_text(encoding="utf-8")
    return text


def _pairs_to_dict(option: str, pairs: list[tuple[str, str]]) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, value in pairs:
        if key in result:
            raise UsageError(f"{option} {key} is given twice")
        result[key] = value
    return result
