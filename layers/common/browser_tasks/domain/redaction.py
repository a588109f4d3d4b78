"""Removing secret values from everything the worker stores, logs or emits.

browser-use shows the model placeholders, but real values still surface in URLs, page text,
extract results and its own history (FINDINGS.md). So every artifact passes through one
``Redactor`` built from the task's secrets before it leaves the worker.
"""

import base64
import json
from typing import Any
from urllib.parse import quote, quote_plus


def secret_values(secrets: dict[str, str | dict[str, str]] | None) -> dict[str, str]:
    """value → name, for flat and domain-scoped secrets alike."""
    found: dict[str, str] = {}
    for key, entry in (secrets or {}).items():
        if isinstance(entry, str):
            found[entry] = key
        else:
            found.update({value: name for name, value in entry.items()})
    return found


class Redactor:
    """Replaces each secret value, and the encodings it is seen in, by ``<secret>name</secret>``.

    Encodings covered: as typed, URL-encoded (``quote`` and ``quote_plus``: a secret sent by
    a GET form shows up in the next URL), JSON-escaped (inside serialized documents) and
    base64. Longer values are replaced first so one secret containing another is not half-done.
    """

    def __init__(self, secrets: dict[str, str | dict[str, str]] | None) -> None:
        variants: dict[str, str] = {}
        for value, name in secret_values(secrets).items():
            placeholder = f"<secret>{name}</secret>"
            for variant in (
                value,
                quote(value, safe=""),
                quote_plus(value),
                json.dumps(value)[1:-1],
                base64.b64encode(value.encode()).decode(),
            ):
                if variant:
                    variants.setdefault(variant, placeholder)
        self._variants = sorted(variants.items(), key=lambda item: len(item[0]), reverse=True)

    def __bool__(self) -> bool:
        return bool(self._variants)

    def text(self, value: str) -> str:
        for variant, placeholder in self._variants:
            if variant in value:
                value = value.replace(variant, placeholder)
        return value

    def data(self, value: Any) -> Any:
        """Redact every string in a JSON-like structure (keys too)."""
        if not self._variants:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value

    def bytes(self, value: bytes) -> bytes:
        """Redact text files (downloads, extracted content); binary data passes unchanged."""
        if not self._variants:
            return value
        try:
            text = value.decode()
        except UnicodeDecodeError:
            return value
        return self.text(text).encode()
