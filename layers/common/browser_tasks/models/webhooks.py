"""``PUT /webhook`` (our extension: v1 registered webhooks in its dashboard) and what is stored.

The URL is checked here for what its text alone shows; whether its host resolves to a public
address is the domain's check (it needs DNS), made at registration and again at each delivery.
"""

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_WEBHOOK_URL_LENGTH = 2048


def validate_webhook_url(value: str) -> str:
    """Return ``value`` if it is an absolute http(s) URL with a host and no credentials.

    Raises
    ------
    ValueError
        Saying what is wrong; the URL itself is not repeated (it may carry a token).
    """
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if "@" in parts.netloc:
        # Basic-auth credentials in a URL end up in logs and proxies; sign-checking the body
        # is how a receiver knows the call is ours.
        raise ValueError("must not contain credentials (user:password@)")
    if not parts.hostname:
        raise ValueError("must name a host")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError as error:
        raise ValueError("has an invalid port") from error
    return value


def host_and_port(url: str) -> tuple[str, int]:
    """The host a (validated) webhook URL calls, and its port (the scheme's by default)."""
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme.lower() == "https" else 80)


WebhookUrl = Annotated[
    str,
    Field(min_length=1, max_length=MAX_WEBHOOK_URL_LENGTH),
    AfterValidator(validate_webhook_url),
]


class WebhookRegistration(BaseModel):
    """The body of ``PUT /webhook``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: WebhookUrl


@dataclass(frozen=True)
class StoredWebhook:
    """An owner's webhook as the Owners table keeps it: the signing secret only sealed."""

    url: str
    secret_ciphertext: str
    updated_at: str


@dataclass(frozen=True)
class RegisteredWebhook:
    """What ``PUT /webhook`` answers, once: the signing secret is never shown again."""

    url: str
    secret: str
