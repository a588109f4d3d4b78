"""The v1 ``llm_model`` names → browser-use chat models, with the provider's credentials.

Imported only by the agent worker (browser-use is in the image, not in the layer).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from browser_tasks.errors import BrowserTasksError

# v1 name → (provider, the provider's model id)
MODEL_IDS: dict[str, tuple[str, str]] = {
    "gpt-4o": ("openai", "gpt-4o"),
    "gpt-4o-mini": ("openai", "gpt-4o-mini"),
    "gpt-4.1": ("openai", "gpt-4.1"),
    "gpt-4.1-mini": ("openai", "gpt-4.1-mini"),
    "gemini-2.5-flash": ("google", "gemini-2.5-flash"),
    "claude-sonnet-4-20250514": ("anthropic", "claude-sonnet-4-20250514"),
}
BEDROCK_MODEL_IDS = {"claude-sonnet-4-20250514": "us.anthropic.claude-sonnet-4-20250514-v1:0"}
KEY_NAMES = {
    "openai": "OPENAI_API_KEY",
    "google": "GOOGLE_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
}


class ModelUnavailable(BrowserTasksError):
    """The operator has not configured what this model needs; retrying will not help."""


@dataclass(frozen=True)
class ModelCredentials:
    """Provider keys (from the environment locally, from SSM/Secrets Manager in AWS)."""

    keys: Mapping[str, str]
    openai_base_url: str | None = None
    anthropic_via_bedrock: bool = False
    aws_region: str | None = None


def chat_model(llm_model: str, credentials: ModelCredentials) -> Any:
    """A browser-use chat model for a v1 model name, or ``ModelUnavailable`` saying what is
    missing (checked before any browser starts, so a task without a key fails at once)."""
    if llm_model not in MODEL_IDS:
        raise ModelUnavailable(f"Unknown model {llm_model!r}")
    provider, model_id = MODEL_IDS[llm_model]
    if provider == "anthropic" and credentials.anthropic_via_bedrock:
        from browser_use.llm.aws.chat_anthropic import ChatAnthropicBedrock

        return ChatAnthropicBedrock(
            model=BEDROCK_MODEL_IDS[llm_model], aws_region=credentials.aws_region
        )
    key_name = KEY_NAMES[provider]
    key = credentials.keys.get(key_name)
    if not key:
        raise ModelUnavailable(
            f"{llm_model} needs {key_name}, which the operator has not configured"
        )
    if provider == "openai":
        from browser_use.llm.openai.chat import ChatOpenAI

        return ChatOpenAI(model=model_id, api_key=key, base_url=credentials.openai_base_url)
    if provider == "google":
        from browser_use.llm.google.chat import ChatGoogle

        return ChatGoogle(model=model_id, api_key=key)
    from browser_use.llm.anthropic.chat import ChatAnthropic

    return ChatAnthropic(model=model_id, api_key=key)
