"""``/uploads/presigned-url``: where a caller PUTs a file its tasks will use."""

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from browser_tasks.models.uploads import PresignedUpload, PresignedUploadRequest
from browser_tasks.services import upload_service
from routes.auth import current_owner

router = Router()  # type: ignore[no-untyped-call]  # untyped in Powertools


@router.post("/uploads/presigned-url")
def presigned_upload_url(request: Annotated[PresignedUploadRequest, Body()]) -> PresignedUpload:
    """A URL to PUT the file to (15 minutes, with that Content-Type); then name the file in
    run-task's ``included_file_names``. Sizes are checked there: 10 MB a file, 50 MB a task."""
    url = upload_service().upload_url(
        current_owner(router), request.file_name, request.content_type
    )
    return PresignedUpload(upload_url=url)
