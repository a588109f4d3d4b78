"""Names of files a caller uploads and hands to a task (v1: ``included_file_names``)."""

import re

# The v1 list of types a task may take as input.
ALLOWED_EXTENSIONS = frozenset(
    [
        "txt",
        "csv",
        "json",
        "xml",
        "html",
        "md",
        "jpg",
        "jpeg",
        "png",
        "gif",
        "webp",
        "pdf",
        "doc",
        "docx",
        "xls",
        "xlsx",
        "ppt",
        "pptx",
    ]
)
MAX_FILE_NAME_LENGTH = 255
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()+-]*$")


def validate_plain_file_name(value: str) -> str:
    """Return ``value`` if it is one file name, not a path, else raise ``ValueError``.

    The check every file name a caller sends gets. Output files are named by the sites the
    agent downloads from, so asking for one checks only this much (and that the task has it).
    """
    if not value or len(value) > MAX_FILE_NAME_LENGTH:
        raise ValueError(f"file names are 1 to {MAX_FILE_NAME_LENGTH} characters")
    if "/" in value or "\\" in value or ".." in value:
        raise ValueError(f"{value!r} must be a plain file name, without a path or '..'")
    return value


def validate_file_name(value: str) -> str:
    """Return ``value`` if it is a plain file name of an allowed type, else raise ``ValueError``.

    Names become S3 keys under the owner's prefix and paths in the worker's temp folder, so
    anything that could climb out of either (separators, ``..``, leading dots) is refused.
    """
    validate_plain_file_name(value)
    if not _SAFE_NAME.match(value):
        raise ValueError(
            f"{value!r} may only hold letters, digits, spaces and . _ - ( ) +, "
            "and must start with a letter or digit"
        )
    extension = value.rsplit(".", 1)[-1].lower() if "." in value else ""
    if extension not in ALLOWED_EXTENSIONS:
        allowed = ", ".join(sorted(ALLOWED_EXTENSIONS))
        raise ValueError(f"{value!r} is not an allowed file type ({allowed})")
    return value
