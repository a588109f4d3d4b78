"""API keys: shown once at creation, stored only as their SHA-256, each bound to an owner."""

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from browser_tasks.domain.ports import ApiKeyRepository
from browser_tasks.errors import Unauthorized
from browser_tasks.models.task import utc_timestamp

KEY_PREFIX = "bt_"
_OWNER = re.compile(r"^[A-Za-z0-9_.@-]{1,128}$")
OWNER_RULE = "1-128 letters, digits or _ . @ -"


def is_owner_name(owner: str) -> bool:
    """Whether ``owner`` may own keys and tasks (every door checks the same rule)."""
    return bool(_OWNER.match(owner))


def hash_api_key(key: str) -> str:
    """The stored form of a key: hex SHA-256 (a key has 256 random bits, so no salt needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def bearer_token(authorization: str | None) -> str:
    """The key from an ``Authorization: Bearer <key>`` header, or ``Unauthorized``."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Missing API key: send 'Authorization: Bearer <key>'")
    return token.strip()


@dataclass(frozen=True)
class ApiKeyService:
    keys: ApiKeyRepository
    clock: Callable[[], datetime]

    def owner_for(self, authorization: str | None) -> str:
        """The owner a request acts for; ``Unauthorized`` for a missing or unknown key."""
        owner = self.keys.owner_of(hash_api_key(bearer_token(authorization)))
        if owner is None:
            raise Unauthorized("Invalid API key")
        return owner

    def register(self, key: str, owner: str) -> None:
        """Bind a key the operator chose (e.g. ``BROWSER_TASKS_API_KEY``) to ``owner``."""
        if not is_owner_name(owner):
            raise ValueError(f"owner names are {OWNER_RULE}")
        if len(key) < 16:
            raise ValueError("API keys must be at least 16 characters")
        self.keys.add(hash_api_key(key), owner, utc_timestamp(self.clock()))

    def mint(self, owner: str) -> str:
        """Create a new key for ``owner`` and return it; it cannot be shown again."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        self.register(key, owner)
        return key
