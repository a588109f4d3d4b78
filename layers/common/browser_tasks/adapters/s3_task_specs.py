"""The task specs bucket: specs are read from ``incoming/``, results written to ``results/``."""

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from browser_tasks.adapters import aws_clients
from browser_tasks.adapters.errors import aws_call, error_code
from browser_tasks.domain.triggers import OWNER_TAG

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import GetObjectRequestTypeDef, GetObjectTaggingRequestTypeDef

_GONE = ("NoSuchKey", "NoSuchVersion", "404", "NotFound")


class S3TaskSpecs:
    def read(self, bucket: str, key: str, version_id: str | None, at_most: int) -> bytes | None:
        """A ranged GET: an oversized spec is never read whole."""
        request: GetObjectRequestTypeDef = {
            "Bucket": bucket,
            "Key": key,
            "Range": f"bytes=0-{at_most - 1}",
        }
        if version_id:
            request["VersionId"] = version_id
        with aws_call("Reading the task spec"):
            try:
                response = aws_clients.s3().get_object(**request)
            except ClientError as error:
                if error_code(error) in _GONE:
                    return None
                if error_code(error) == "InvalidRange":  # an empty object has no byte 0
                    return b""
                raise
            return bytes(response["Body"].read(at_most))

    def owner_tag(self, bucket: str, key: str, version_id: str | None) -> str | None:
        request: GetObjectTaggingRequestTypeDef = {"Bucket": bucket, "Key": key}
        if version_id:
            request["VersionId"] = version_id
        with aws_call("Reading the task spec's tags"):
            try:
                tags = aws_clients.s3().get_object_tagging(**request)
            except ClientError as error:
                if error_code(error) in _GONE:
                    return None
                raise
        return next((t["Value"] for t in tags["TagSet"] if t["Key"] == OWNER_TAG), None)

    def put_json(self, bucket: str, key: str, document: bytes) -> None:
        with aws_call("Writing the task's result"):
            aws_clients.s3().put_object(
                Bucket=bucket, Key=key, Body=document, ContentType="application/json"
            )
