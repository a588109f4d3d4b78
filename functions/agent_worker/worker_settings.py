"""The worker's own operator settings (environment), beside the shared resource settings."""

import json
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Where Chromium is: the image's copy first, then Debian's binary, then its shell wrapper.
CHROMIUM_CANDIDATES = ("/opt/chromium/chrome", "/usr/lib/chromium/chromium", "/usr/bin/chromium")


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True)

    chrome_path: str | None = None
    # A chunk ends after this much agent time so it fits one 15-minute Lambda invocation.
    chunk_time_budget_seconds: int = Field(default=720, ge=10, le=840)
    # ...or after this many steps (0: no step bound). Both end a chunk only at a safe step.
    chunk_max_steps: int = Field(default=0, ge=0, le=200)
    # A chunk whose message comes back this many times (its worker died each time) is failed
    # to the state machine, which retries it under a new token or fails the task.
    max_chunk_deliveries: int = Field(default=2, ge=1, le=10)
    heartbeat_seconds: int = Field(default=60, ge=1, le=600)
    # The chunk's queue message stays hidden this long past each heartbeat: a worker that
    # dies has its chunk redelivered (and resumed) within about this long.
    message_lease_seconds: int = Field(default=150, ge=10, le=900)
    # In AWS: the name of an SSM SecureString holding the operator's secrets as JSON:
    # {"OPENAI_API_KEY": "...", "GOOGLE_API_KEY": "...", "ANTHROPIC_API_KEY": "...",
    #  "proxy_urls": {"us": "http://user:pass@proxy.example:8080", ...}}.
    # Unset (locally): the same values come from the environment.
    operator_secrets_parameter: str | None = None
    openai_base_url: str | None = None  # any OpenAI-compatible server
    anthropic_via_bedrock: bool = False
    proxy_urls: dict[str, str] = {}  # local only; in AWS they are operator secrets
    # EasyList-format rules for use_adblock; baked into the image at build time.
    adblock_rules_path: str | None = None
    # In Lambda: every request goes through the worker's proxy, which refuses targets that
    # resolve to loopback (the Runtime API), link-local or private addresses. The local stack
    # turns it off: its test sites live on loopback.
    block_private_networks: bool = True
    headless: bool = True

    @model_validator(mode="after")
    def _lease_outlives_a_heartbeat(self) -> "WorkerSettings":
        if self.message_lease_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                "message_lease_seconds must be at least twice heartbeat_seconds, or a live "
                "worker's chunk could be redelivered to another"
            )
        return self

    def chromium(self) -> str:
        """The Chromium binary, or ``RuntimeError`` naming where it looked."""
        for candidate in (self.chrome_path, *CHROMIUM_CANDIDATES, shutil.which("chromium")):
            if candidate and os.access(candidate, os.X_OK):
                return candidate
        raise RuntimeError(
            "No Chromium found: set CHROME_PATH or install Debian's chromium "
            f"(looked at {', '.join(CHROMIUM_CANDIDATES)} and PATH)"
        )


@lru_cache(maxsize=1)
def get_worker_settings() -> WorkerSettings:
    return WorkerSettings()


PROVIDER_KEY_NAMES = ("OPENAI_API_KEY", "GOOGLE_API_KEY", "ANTHROPIC_API_KEY")


@dataclass(frozen=True)
class OperatorSecrets:
    """LLM provider keys and proxy URLs: never logged, never stored with a task."""

    provider_keys: dict[str, str]
    proxy_urls: dict[str, str]


@lru_cache(maxsize=1)
def get_operator_secrets() -> OperatorSecrets:
    """From the SSM parameter in AWS (read once per container), else from the environment."""
    settings = get_worker_settings()
    if not settings.operator_secrets_parameter:
        keys = {name: os.environ[name] for name in PROVIDER_KEY_NAMES if os.environ.get(name)}
        return OperatorSecrets(provider_keys=keys, proxy_urls=dict(settings.proxy_urls))
    from browser_tasks.adapters import aws_clients

    stored = json.loads(
        aws_clients.ssm().get_parameter(
            Name=settings.operator_secrets_parameter, WithDecryption=True
        )["Parameter"]["Value"]
    )
    return OperatorSecrets(
        provider_keys={name: str(stored[name]) for name in PROVIDER_KEY_NAMES if stored.get(name)},
        proxy_urls={str(k): str(v) for k, v in (stored.get("proxy_urls") or {}).items()},
    )
