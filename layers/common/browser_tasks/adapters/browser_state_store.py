"""Saved browser state in the state bucket, KMS-envelope encrypted.

Two places: a task's own browser data (v1 ``save_browser_data``) and a browser profile's
state (v1 ``browser_profile_id``), each bound by its encryption context to its owner and key,
so one owner's state can never be decrypted as another's.
"""

import json
from typing import Any

from botocore.exceptions import ClientError

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.errors import aws_call, error_code
from browser_tasks.adapters.kms_cipher import KmsSecretsCipher


def task_browser_data_key(owner: str, task_id: str) -> str:
    return f"browser-data/{owner}/{task_id}.json.enc"


def profile_state_key(owner: str, profile_id: str) -> str:
    return f"profiles/{owner}/{profile_id}.json.enc"


class BrowserStateStore:
    def __init__(self, bucket: str, cipher: KmsSecretsCipher) -> None:
        self._bucket = bucket
        self._cipher = cipher

    def save(self, owner: str, key: str, state: dict[str, Any]) -> str:
        ciphertext = self._cipher.encrypt(json.dumps(state), self._context(owner, key))
        with aws_call("Saving browser state"):
            aws_clients.s3().put_object(Bucket=self._bucket, Key=key, Body=ciphertext.encode())
        return key

    def load(self, owner: str, key: str) -> dict[str, Any] | None:
        """The saved state, or None if nothing was saved there yet."""
        with aws_call("Loading browser state"):
            try:
                body = aws_clients.s3().get_object(Bucket=self._bucket, Key=key)["Body"].read()
            except ClientError as error:
                if error_code(error) in ("NoSuchKey", "404"):
                    return None
                raise
        state: dict[str, Any] = json.loads(
            self._cipher.decrypt(body.decode(), self._context(owner, key))
        )
        return state

    def delete(self, key: str) -> None:
        """Remove the saved state; nothing happens if there is none."""
        with aws_call("Deleting browser state"):
            aws_clients.s3().delete_object(Bucket=self._bucket, Key=key)

    @staticmethod
    def _context(owner: str, key: str) -> dict[str, str]:
        return {"owner": owner, "browser_state": key}


class ProfileStateStore:
    """Browser profiles' saved states, each at its ``profile_state_key``."""

    def __init__(self, store: BrowserStateStore) -> None:
        self._store = store

    def save(self, owner: str, profile_id: str, state: dict[str, Any]) -> None:
        self._store.save(owner, profile_state_key(owner, profile_id), state)

    def load(self, owner: str, profile_id: str) -> dict[str, Any] | None:
        return self._store.load(owner, profile_state_key(owner, profile_id))

    def delete(self, owner: str, profile_id: str) -> None:
        self._store.delete(profile_state_key(owner, profile_id))
