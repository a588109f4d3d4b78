from datetime import UTC, datetime, timedelta

import pytest

from browser_tasks.domain.api_keys import ApiKeyService, bearer_token, hash_api_key
from browser_tasks.domain.ids import new_task_id
from browser_tasks.errors import Unauthorized


def test_task_ids_are_prefixed_unique_and_sort_by_time() -> None:
    start = datetime(2026, 11, 30, tzinfo=UTC)
    ids = [new_task_id(start + timedelta(milliseconds=i)) for i in range(200)]

    assert all(i.startswith("task_") and len(i) == 31 for i in ids)
    assert len(set(ids)) == 200
    assert sorted(ids) == ids


def test_same_millisecond_ids_differ() -> None:
    now = datetime.now(UTC)
    assert len({new_task_id(now) for _ in range(1000)}) == 1000


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc", "abc"), ("bearer   abc  ", "abc"), ("BEARER abc", "abc")],
)
def test_bearer_token_parsing(header: str, token: str) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer  ", "Basic abc", "abc"])
def test_missing_or_malformed_authorization_is_unauthorized(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        bearer_token(header)


class MemoryKeys:
    def __init__(self) -> None:
        self.items: dict[str, str] = {}

    def owner_of(self, key_hash: str) -> str | None:
        return self.items.get(key_hash)

    def add(self, key_hash: str, owner: str, created_at: str) -> None:
        self.items[key_hash] = owner


def test_minted_keys_resolve_to_their_owner_and_only_the_hash_is_kept() -> None:
    keys = MemoryKeys()
    service = ApiKeyService(keys=keys, clock=lambda: datetime.now(UTC))

    key = service.mint("alice")

    assert key.startswith("bt_")
    assert len(key) > 40
    assert list(keys.items) == [hash_api_key(key)]
    assert key not in keys.items
    assert service.owner_for(f"Bearer {key}") == "alice"
    with pytest.raises(Unauthorized, match="Invalid API key"):
        service.owner_for(f"Bearer {key}x")


@pytest.mark.parametrize("owner", ["", "has space", "x" * 129, "slash/owner"])
def test_owner_names_are_checked(owner: str) -> None:
    service = ApiKeyService(keys=MemoryKeys(), clock=lambda: datetime.now(UTC))
    with pytest.raises(ValueError, match="owner names"):
        service.mint(owner)


def test_short_operator_keys_are_refused() -> None:
    service = ApiKeyService(keys=MemoryKeys(), clock=lambda: datetime.now(UTC))
    with pytest.raises(ValueError, match="at least 16"):
        service.register("short", "alice")
