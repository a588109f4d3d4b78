"""Turning AWS client failures into the domain's typed errors, in one place."""

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from browser_tasks.errors import ServiceUnavailable


def error_code(error: ClientError) -> str:
    """AWS's error code, e.g. ``ConditionalCheckFailedException``."""
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


@contextmanager
def aws_call(what: str) -> Iterator[None]:
    """Run an AWS call; any client or transport failure becomes ``ServiceUnavailable``.

    The message names the operation and AWS's error code, never request parameters (which may
    hold ciphertext or task text).
    """
    try:
        yield
    except ClientError as error:
        raise ServiceUnavailable(f"{what} failed ({error_code(error)})") from error
    except BotoCoreError as error:
        raise ServiceUnavailable(f"{what} failed ({type(error).__name__})") from error
