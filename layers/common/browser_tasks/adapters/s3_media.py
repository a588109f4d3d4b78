"""The media bucket: uploads, screenshots, GIFs and output files, under the owner's prefix."""

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.errors import aws_call


def upload_key(owner: str, file_name: str) -> str:
    return f"uploads/{owner}/{file_name}"


def task_prefix(owner: str, task_id: str) -> str:
    return f"tasks/{owner}/{task_id}/"


class S3MediaStore:
    def __init__(self, bucket: str) -> None:
        self._bucket = bucket

    def put(self, key: str, data: bytes, content_type: str) -> str:
        with aws_call("Storing media"):
            aws_clients.s3().put_object(
                Bucket=self._bucket, Key=key, Body=data, ContentType=content_type
            )
        return key

    def get(self, key: str) -> bytes:
        with aws_call("Reading media"):
            return aws_clients.s3().get_object(Bucket=self._bucket, Key=key)["Body"].read()

    def screenshot_key(self, owner: str, task_id: str, step: int) -> str:
        return f"{task_prefix(owner, task_id)}screenshots/{step:04d}.png"

    def gif_key(self, owner: str, task_id: str) -> str:
        return f"{task_prefix(owner, task_id)}task.gif"

    def output_file_key(self, owner: str, task_id: str, file_name: str) -> str:
        return f"{task_prefix(owner, task_id)}files/{file_name}"
