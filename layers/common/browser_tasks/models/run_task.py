"""The v1 ``POST /run-task`` request: every field, its default and its rule.

One model serves every entry point (API, S3 spec, EventBridge event, schedule), so a task is
validated the same way whichever door it comes through.
"""

import json
import re
from typing import Annotated, Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from browser_tasks.models.file_names import validate_file_name
from browser_tasks.models.host_patterns import normalize_host_pattern, normalize_secret_scope

LlmModel = Literal[
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gemini-2.5-flash",
    "claude-sonnet-4-20250514",
]
ProxyCountryCode = Literal["us", "fr", "it", "jp", "au", "de", "fi", "ca"]
# A task's viewport, and a browser profile's (which a task naming it takes unless it sets one).
ViewportWidth = Annotated[int, Field(ge=320, le=6144)]
ViewportHeight = Annotated[int, Field(ge=320, le=3456)]
DEFAULT_VIEWPORT_WIDTH = 1280
DEFAULT_VIEWPORT_HEIGHT = 960

MAX_TASK_LENGTH = 50_000
MAX_SECRETS = 50
MAX_SECRET_VALUE_LENGTH = 4_096
# browser-use turns a list of 100+ entries into a set and then ignores "*." patterns; with the
# worker's one extra entry (Debian's first tab), 98 keeps the agent's view and the network's alike.
MAX_ALLOWED_DOMAINS = 98
MAX_INCLUDED_FILES = 20
MAX_METADATA_PAIRS = 10
# Keywords the worker cannot turn into the agent's output model
# (browser-use's schema_dict_to_pydantic_model): refused here rather than failing later.
UNSUPPORTED_SCHEMA_KEYWORDS = ("$ref", "anyOf", "oneOf", "allOf")

# A secret's name becomes the agent's placeholder (<secret>name</secret>), so keep it plain.
_SECRET_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _secret_name(value: str) -> str:
    if not _SECRET_NAME.match(value):
        raise ValueError(f"secret name {value!r}: use 1-100 letters, digits, '_', '.' or '-'")
    return value


def _secrets(value: dict[str, str | dict[str, str]]) -> dict[str, str | dict[str, str]]:
    """Flat names, or domain scopes holding names; values are never echoed in a message."""
    count = 0
    normalized: dict[str, str | dict[str, str]] = {}
    for key, entry in value.items():
        if isinstance(entry, str):
            normalized[_secret_name(key)] = _secret_value(key, entry)
            count += 1
            continue
        try:
            scope = normalize_secret_scope(key)
        except ValueError as error:
            raise ValueError(f"secrets scope {key!r}: {error}") from None
        if not entry:
            raise ValueError(f"secrets scope {key!r} holds no secrets")
        normalized[scope] = {
            _secret_name(name): _secret_value(name, v) for name, v in entry.items()
        }
        count += len(entry)
    if count > MAX_SECRETS:
        raise ValueError(f"at most {MAX_SECRETS} secrets per task")
    return normalized


def _secret_value(name: str, value: str) -> str:
    if not 1 <= len(value) <= MAX_SECRET_VALUE_LENGTH:
        raise ValueError(f"secret {name!r} must be 1 to {MAX_SECRET_VALUE_LENGTH} characters")
    return value


def _structured_output_schema(value: str) -> str:
    try:
        schema = json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(f"is not valid JSON ({error.msg} at position {error.pos})") from None
    if not isinstance(schema, dict):
        raise ValueError("must be a JSON Schema object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        raise ValueError(f"is not a valid JSON Schema (draft 2020-12): {error.message}") from None
    if schema.get("type") != "object":
        raise ValueError('must describe an object: its top level needs "type": "object"')
    found = sorted(set(_schema_keywords(schema)) & set(UNSUPPORTED_SCHEMA_KEYWORDS))
    if found:
        raise ValueError(f"uses {', '.join(found)}, which the agent's output model cannot express")
    return value


def _schema_keywords(node: Any) -> list[str]:
    """Every key used anywhere in a JSON document."""
    if isinstance(node, dict):
        return [*node.keys(), *(k for child in node.values() for k in _schema_keywords(child))]
    if isinstance(node, list):
        return [k for child in node for k in _schema_keywords(child)]
    return []


TaskText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_TASK_LENGTH), AfterValidator(_not_blank)
]
HostPattern = Annotated[str, AfterValidator(normalize_host_pattern)]
FileName = Annotated[str, AfterValidator(validate_file_name)]
MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=100)]
MetadataValue = Annotated[str, StringConstraints(max_length=1000)]
SchemaText = Annotated[str, AfterValidator(_structured_output_schema)]

# v1 takes both {"name": "value"} and {"https://*.example.com": {"name": "value"}}, mixed.
Secrets = Annotated[dict[str, str | dict[str, str]], AfterValidator(_secrets)]


class RunTaskRequest(BaseModel):
    """Body of ``POST /api/v1/run-task`` (browser-use Cloud v1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: TaskText = Field(description="What the agent should do, in plain language.")
    # repr=False: libraries log models by repr (Powertools' resolver does at DEBUG).
    secrets: Secrets | None = Field(
        default=None,
        repr=False,
        description="Values the agent may type but never sees: flat or scoped to domains.",
    )
    allowed_domains: list[HostPattern] | None = Field(
        default=None,
        max_length=MAX_ALLOWED_DOMAINS,
        description="Hosts the browser may reach (example.com, *.example.com); unset = all.",
    )
    save_browser_data: bool = False
    structured_output_json: SchemaText | None = Field(
        default=None, description="A JSON Schema (as a string) the output must match."
    )
    llm_model: LlmModel = "gpt-4.1"
    use_adblock: bool = True
    use_proxy: bool = True
    proxy_country_code: ProxyCountryCode = "us"
    highlight_elements: bool = True
    included_file_names: list[FileName] | None = Field(default=None, max_length=MAX_INCLUDED_FILES)
    browser_viewport_width: ViewportWidth = DEFAULT_VIEWPORT_WIDTH
    browser_viewport_height: ViewportHeight = DEFAULT_VIEWPORT_HEIGHT
    max_agent_steps: int = Field(default=75, ge=1, le=200)
    time_limit_seconds: int | None = Field(
        default=None,
        ge=10,
        le=86_400,
        description=(
            "Our extension: the task fails once its agent has worked this long. Default and "
            "maximum are the operator's (TaskTimeLimitSeconds, TaskMaxTimeLimitSeconds)."
        ),
    )
    enable_public_share: bool = False
    metadata: dict[MetadataKey, MetadataValue] | None = Field(
        default=None, max_length=MAX_METADATA_PAIRS
    )
    # Becomes part of a storage key: letters, digits, '_' and '-' only.
    browser_profile_id: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,100}$")] | None
    ) = None

    def settings_without_secrets(self) -> dict[str, Any]:
        """Every field but ``task``, ``secrets`` and ``metadata``: what the task item stores."""
        return self.model_dump(exclude={"task", "secrets", "metadata"}, exclude_none=True)


class TaskCreated(BaseModel):
    """What ``POST /api/v1/run-task`` answers: the new task's id."""

    id: str
