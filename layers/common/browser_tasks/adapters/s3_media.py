"""The media bucket: uploads, screenshots, GIFs and output files, under the owner's prefix."""

from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.errors import aws_call, error_code


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

    def presign_get(self, key: str, seconds: int) -> str:
        """A URL that GETs ``key`` for ``seconds`` (signed locally: no request to S3)."""
        with aws_call("Signing a media URL"):
            return aws_clients.s3().generate_presigned_url(
                "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=seconds
            )

    def origin(self) -> str:
        """Where ``presign_get``'s URLs point: the origin of one signed for a made-up key
        (signing is local, and it is the same client, so the same host and addressing style:
        ``https://<bucket>.s3[.<region>].amazonaws.com`` in AWS, the endpoint on moto)."""
        parts = urlsplit(self.presign_get("origin-probe", 60))
        return f"{parts.scheme}://{parts.netloc}"

    def screenshot_key(self, owner: str, task_id: str, step: int) -> str:
        return f"{task_prefix(owner, task_id)}screenshots/{step:04d}.png"

    def gif_key(self, owner: str, task_id: str) -> str:
        return f"{task_prefix(owner, task_id)}task.gif"

    def output_file_key(self, owner: str, task_id: str, file_name: str) -> str:
        return f"{task_prefix(owner, task_id)}files/{file_name}"


class S3UploadStore:
    """Callers' uploads under ``uploads/<owner>/`` of the media bucket."""

    def __init__(self, bucket: str) -> None:
        self._bucket = bucket

    def presign_put(self, owner: str, file_name: str, content_type: str, seconds: int) -> str:
        with aws_call("Signing the upload URL"):
            return aws_clients.s3().generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": self._bucket,
                    "Key": upload_key(owner, file_name),
                    "ContentType": content_type,
                },
                ExpiresIn=seconds,
            )

    def size_of(self, owner: str, file_name: str) -> int | None:
        with aws_call("Checking an upload"):
            try:
                head = aws_clients.s3().head_object(
                    Bucket=self._bucket, Key=upload_key(owner, file_name)
                )
            except ClientError as error:
                if error_code(error) in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise
        return int(head["ContentLength"])
