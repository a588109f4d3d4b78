"""Where the worker finds its model keys, proxies and Chromium; which model class it builds."""

import json

import boto3
import pytest
from moto import mock_aws

from browser_tasks.adapters.llm_models import ModelCredentials, ModelUnavailable, chat_model
from browser_tasks.services import reset_services


@pytest.fixture(autouse=True)
def _fresh_settings() -> None:
    from worker_settings import get_operator_secrets, get_worker_settings

    get_worker_settings.cache_clear()
    get_operator_secrets.cache_clear()
    reset_services()


def test_operator_secrets_come_from_the_environment_locally(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from worker_settings import get_operator_secrets

    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("PROXY_URLS", json.dumps({"us": "http://u:p@127.0.0.1:9"}))

    secrets = get_operator_secrets()

    assert secrets.provider_keys == {"OPENAI_API_KEY": "sk-env"}
    assert secrets.proxy_urls == {"us": "http://u:p@127.0.0.1:9"}


def test_operator_secrets_come_from_an_ssm_secure_string_in_aws(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from worker_settings import get_operator_secrets

    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-must-not-be-used")
    monkeypatch.setenv("OPERATOR_SECRETS_PARAMETER", "/browser-tasks/operator-secrets")
    with mock_aws():
        boto3.client("ssm").put_parameter(
            Name="/browser-tasks/operator-secrets",
            Type="SecureString",
            Value=json.dumps(
                {"ANTHROPIC_API_KEY": "sk-ant", "proxy_urls": {"de": "http://a:b@proxy:8080"}}
            ),
        )

        secrets = get_operator_secrets()

    assert secrets.provider_keys == {"ANTHROPIC_API_KEY": "sk-ant"}
    assert secrets.proxy_urls == {"de": "http://a:b@proxy:8080"}


def test_chromium_is_found_or_named_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    from worker_settings import WorkerSettings

    assert WorkerSettings().chromium().endswith("chromium")
    monkeypatch.setenv("PATH", "/nonexistent")
    settings = WorkerSettings(chrome_path="/nope/chrome")
    monkeypatch.setattr("worker_settings.CHROMIUM_CANDIDATES", ("/nope/a",))
    with pytest.raises(RuntimeError, match="set CHROME_PATH"):
        settings.chromium()


@pytest.mark.parametrize(
    ("model", "key", "class_name"),
    [
        ("gpt-4.1", "OPENAI_API_KEY", "ChatOpenAI"),
        ("gpt-4o-mini", "OPENAI_API_KEY", "ChatOpenAI"),
        ("gemini-2.5-flash", "GOOGLE_API_KEY", "ChatGoogle"),
        ("claude-sonnet-4-20250514", "ANTHROPIC_API_KEY", "ChatAnthropic"),
    ],
)
def test_each_v1_model_gets_its_providers_client(model: str, key: str, class_name: str) -> None:
    llm = chat_model(model, ModelCredentials(keys={key: "k"}))
    assert type(llm).__name__ == class_name
    with pytest.raises(ModelUnavailable, match=f"{model} needs {key}"):
        chat_model(model, ModelCredentials(keys={}))


def test_claude_can_run_on_bedrock_without_a_third_party_key() -> None:
    llm = chat_model(
        "claude-sonnet-4-20250514",
        ModelCredentials(keys={}, anthropic_via_bedrock=True, aws_region="us-east-1"),
    )
    assert type(llm).__name__ == "ChatAnthropicBedrock"
    assert "anthropic.claude-sonnet-4" in llm.model


def test_openai_compatible_base_url_is_honoured() -> None:
    llm = chat_model(
        "gpt-4.1",
        ModelCredentials(keys={"OPENAI_API_KEY": "k"}, openai_base_url="http://127.0.0.1:9/v1"),
    )
    assert str(llm.base_url) == "http://127.0.0.1:9/v1"


def test_a_lease_shorter_than_two_heartbeats_is_refused() -> None:
    from pydantic import ValidationError

    from worker_settings import WorkerSettings

    with pytest.raises(ValidationError, match="twice heartbeat_seconds"):
        WorkerSettings(heartbeat_seconds=60, message_lease_seconds=100)
