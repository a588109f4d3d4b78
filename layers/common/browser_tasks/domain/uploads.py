"""Uploads a caller makes for its tasks: where they go, and the limits checked before use.

S3 presigned PUT URLs cannot carry a size limit, so the limits (10 MB a file, 50 MB a task)
are checked when a task names the files, against what was really stored.
"""

from dataclasses import dataclass
from typing import Protocol

from browser_tasks.errors import RequestInvalid
from browser_tasks.models.uploads import MAX_FILE_BYTES, MAX_TASK_FILES_BYTES

UPLOAD_URL_SECONDS = 15 * 60


class UploadStore(Protocol):
    def presign_put(self, owner: str, file_name: str, content_type: str, seconds: int) -> str: ...

    def size_of(self, owner: str, file_name: str) -> int | None:
        """Bytes stored under the owner's name, or None if nothing was uploaded."""


@dataclass(frozen=True)
class UploadService:
    store: UploadStore

    def upload_url(self, owner: str, file_name: str, content_type: str) -> str:
        return self.store.presign_put(owner, file_name, content_type, UPLOAD_URL_SECONDS)

    def check_included(self, owner: str, file_names: list[str]) -> None:
        """Every named file was uploaded by this owner and the limits hold; else 422 detail."""
        problems: list[tuple[list[str | int], str]] = []
        total = 0
        for index, name in enumerate(file_names):
            size = self.store.size_of(owner, name)
            loc: list[str | int] = ["body", "included_file_names", index]
            if size is None:
                problems.append((loc, f"{name!r} was not uploaded (use /uploads/presigned-url)"))
            elif size > MAX_FILE_BYTES:
                problems.append((loc, f"{name!r} is {size} bytes; files are at most 10 MB"))
            else:
                total += size
        if not problems and total > MAX_TASK_FILES_BYTES:
            problems.append(
                (["body", "included_file_names"], f"{total} bytes in all; a task takes 50 MB")
            )
        if problems:
            raise RequestInvalid([(loc, msg, "value_error") for loc, msg in problems])
