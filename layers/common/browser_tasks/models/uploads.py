"""``POST /uploads/presigned-url``: the file a caller is about to upload for its tasks."""

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from browser_tasks.models.file_names import validate_file_name

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_TASK_FILES_BYTES = 50 * 1024 * 1024

# The content types each allowed extension may be uploaded as.
CONTENT_TYPES: dict[str, frozenset[str]] = {
    "txt": frozenset({"text/plain"}),
    "csv": frozenset({"text/csv", "text/plain", "application/vnd.ms-excel"}),
    "json": frozenset({"application/json", "text/plain"}),
    "xml": frozenset({"application/xml", "text/xml"}),
    "html": frozenset({"text/html"}),
    "md": frozenset({"text/markdown", "text/plain"}),
    "jpg": frozenset({"image/jpeg"}),
    "jpeg": frozenset({"image/jpeg"}),
    "png": frozenset({"image/png"}),
    "gif": frozenset({"image/gif"}),
    "webp": frozenset({"image/webp"}),
    "pdf": frozenset({"application/pdf"}),
    "doc": frozenset({"application/msword"}),
    "docx": frozenset({"application/vnd.openxmlformats-officedocument.wordprocessingml.document"}),
    "xls": frozenset({"application/vnd.ms-excel"}),
    "xlsx": frozenset({"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}),
    "ppt": frozenset({"application/vnd.ms-powerpoint"}),
    "pptx": frozenset(
        {"application/vnd.openxmlformats-officedocument.presentationml.presentation"}
    ),
}


class PresignedUploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    file_name: Annotated[str, AfterValidator(validate_file_name)]
    content_type: str

    @model_validator(mode="after")
    def _content_type_fits_the_extension(self) -> "PresignedUploadRequest":
        extension = self.file_name.rsplit(".", 1)[-1].lower()
        allowed = CONTENT_TYPES[extension]
        if self.content_type.split(";")[0].strip().lower() not in allowed:
            raise ValueError(
                f"content_type {self.content_type!r} does not fit .{extension} "
                f"(expected {' or '.join(sorted(allowed))})"
            )
        return self


class PresignedUpload(BaseModel):
    """What ``POST /api/v1/uploads/presigned-url`` answers."""

    upload_url: str = Field(
        description="PUT the file here, with the same Content-Type, within 15 minutes."
    )
