"""The worker's own operator settings (environment), beside the shared resource settings."""

import json
import os
import shutil
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Where Chromium is: the image's copy first, then Debian's binary, then its shell wrapper.
CHROMIUM_CANDIDATES = ("/opt/chromium/chrome", "/usr/lib/chromium/chromium", "/usr/bin/chromium")


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True)

    chrome_path: str | None = None
    # A chunk ends after this much agent time so it fits one 15-minute Lambda invocation.
    chunk_time_budget_seconds: int = Field(default=720, ge=10, le=840)
    heartbeat_seconds: int = Field(default=60, ge=1, le=600)
    # In AWS: an SSM SecureString parameter holding {"OPENAI_API_KEY": "...", ...}.
    provider_keys_parameter: str | None = None
    anthropic_via_bedrock: bool = False
    # {"us": "http://user:pass@proxy.example:8080", ...}: the operator's proxies by country.
    proxy_urls: dict[str, str] = {}
    # EasyList-format rules for use_adblock; baked into the image at build time.
    adblock_rules_path: str | None = None
    headless: bool = True

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


def provider_keys(settings: WorkerSettings) -> dict[str, str]:
    """LLM provider keys: from the SSM parameter in AWS, else from the environment."""
    names = ("OPENAI_API_KEY", "GOOGLE_API_KEY", "ANTHROPIC_API_KEY")
    if settings.provider_keys_parameter:
        from browser_tasks.adapters import aws_clients

        value = aws_clients.ssm().get_parameter(
            Name=settings.provider_keys_parameter, WithDecryption=True
        )["Parameter"]["Value"]
        stored = json.loads(value)
        return {name: str(stored[name]) for name in names if stored.get(name)}
    return {name: os.environ[name] for name in names if os.environ.get(name)}
