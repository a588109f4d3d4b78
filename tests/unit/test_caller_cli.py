"""The caller commands' parsing: every run-task field has an option and the options make a
request the API's own model accepts. (The commands against a real stack:
tests/integration/test_caller_cli.py.)"""

import argparse
import json
from pathlib import Path

import pytest

from browser_tasks.caller_commands import (
    EXIT_USAGE,
    add_caller_commands,
    run_caller_command,
    run_task_body,
)
from browser_tasks.client import ApiError
from browser_tasks.models.run_task import RunTaskRequest

SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}}


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="browser-tasks")
    add_caller_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_every_run_task_field_has_an_option() -> None:
    args = _parse("run", "A task")

    assert set(RunTaskRequest.model_fields) <= set(vars(args))


def test_only_the_options_given_are_sent() -> None:
    assert run_task_body(_parse("run", "A task")) == {"task": "A task"}


def test_options_make_a_request_the_api_model_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(SCHEMA))
    monkeypatch.setenv("SITE_PASSWORD", "from-the-environment")

    body = run_task_body(
        _parse(
            "run",
            "Log in and read the title",
            "--llm-model=gpt-4.1-mini",
            "--max-agent-steps=7",
            "--time-limit-seconds=60",
            "--allowed-domain=example.com",
            "--allowed-domain=*.example.org",
            f"--structured-output-json={schema_file}",
            "--metadata=team=qa",
            "--metadata=run=42",
            "--secret=user=alice",
            "--secret=SITE_PASSWORD",
            "--included-file-name=notes.txt",
            "--browser-profile-id=profile_1",
            "--proxy-country-code=de",
            "--browser-viewport-width=1024",
            "--browser-viewport-height=768",
            "--save-browser-data",
            "--enable-public-share",
            "--no-use-adblock",
            "--no-use-proxy",
            "--no-highlight-elements",
        )
    )

    assert body == {
        "task": "Log in and read the title",
        "llm_model": "gpt-4.1-mini",
        "max_agent_steps": 7,
        "time_limit_seconds": 60,
        "allowed_domains": ["example.com", "*.example.org"],
        "structured_output_json": json.dumps(SCHEMA),
        "metadata": {"team": "qa", "run": "42"},
        "secrets": {"user": "alice", "SITE_PASSWORD": "from-the-environment"},
        "included_file_names": ["notes.txt"],
        "browser_profile_id": "profile_1",
        "proxy_country_code": "de",
        "browser_viewport_width": 1024,
        "browser_viewport_height": 768,
        "save_browser_data": True,
        "enable_public_share": True,
        "use_adblock": False,
        "use_proxy": False,
        "highlight_elements": False,
    }
    assert set(RunTaskRequest.model_validate(body).model_fields_set) == set(body)


def test_an_inline_schema_is_sent_as_given() -> None:
    inline = json.dumps(SCHEMA)

    body = run_task_body(_parse("run", "t", "--structured-output-json", inline))

    assert body["structured_output_json"] == inline


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "t", "--secret", "UNSET_VARIABLE_FOR_TEST"],  # NAME alone needs $NAME
        ["run", "t", "--metadata", "no-equals-sign"],
        ["run", "t", "--llm-model", "gpt-2"],
        ["list", "--status", "sleeping"],
    ],
)
def test_bad_options_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _parse(*argv)

    assert exited.value.code == EXIT_USAGE
    assert "error:" in capsys.readouterr().err


def test_a_key_given_twice_is_refused_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = _parse("run", "t", "--metadata=a=1", "--metadata=a=2", "--api-key=k")
    args.endpoint = "http://127.0.0.1:9/api/v1"  # nothing listens: a call would fail otherwise

    assert run_caller_command(args) == EXIT_USAGE
    assert "--metadata a is given twice" in capsys.readouterr().err


def test_without_an_api_key_it_says_how_to_give_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BROWSER_TASKS_API_KEY", raising=False)

    assert run_caller_command(_parse("get", "task_x")) == EXIT_USAGE
    assert "--api-key, or set BROWSER_TASKS_API_KEY" in capsys.readouterr().err


def test_api_errors_read_as_v1_says_them() -> None:
    invalid = ApiError(
        422,
        [
            {"loc": ["body", "max_agent_steps"], "msg": "Input should be <= 200", "type": "x"},
            {"loc": ["body", "task"], "msg": "Field required", "type": "missing"},
        ],
    )

    assert invalid.message == (
        "HTTP 422: invalid request\n"
        "  body.max_agent_steps: Input should be <= 200\n"
        "  body.task: Field required"
    )
    assert ApiError(401, "Invalid API key").message == "HTTP 401: Invalid API key"
    assert ApiError(None, "cannot reach x").message == "cannot reach x"
