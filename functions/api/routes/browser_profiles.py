"""``/browser-profiles``: browser settings and saved browser state that tasks name by id."""

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from api_docs import route_answers
from browser_tasks.models.browser_profile import (
    PROFILE_ID_PATTERN,
    BrowserProfilePage,
    BrowserProfileView,
    CreateBrowserProfileRequest,
    UpdateBrowserProfileRequest,
)
from browser_tasks.services import browser_profile_service
from routes.auth import current_owner
from routes.paging import PageNumber, PageSize

router = Router()  # type: ignore[no-untyped-call]  # untyped in Powertools

ProfileId = Annotated[str, Path(pattern=PROFILE_ID_PATTERN)]
NOT_FOUND = route_answers({404: "Browser profile not found: unknown, or another owner's"})


@router.post("/browser-profiles")
def create_browser_profile(
    request: Annotated[CreateBrowserProfileRequest, Body()],
) -> BrowserProfileView:
    """Create a profile; tasks name it in ``browser_profile_id``."""
    return browser_profile_service().create(current_owner(router), request)


@router.get("/browser-profiles")
def list_browser_profiles(page: PageNumber = 1, limit: PageSize = 10) -> BrowserProfilePage:
    """The caller's profiles, newest first."""
    return browser_profile_service().page(current_owner(router), page, limit)


@router.get("/browser-profiles/<profile_id>", responses=NOT_FOUND)
def get_browser_profile(profile_id: ProfileId) -> BrowserProfileView:
    """One profile's settings."""
    return browser_profile_service().get(current_owner(router), profile_id)


@router.put("/browser-profiles/<profile_id>", responses=NOT_FOUND)
def update_browser_profile(
    profile_id: ProfileId, request: Annotated[UpdateBrowserProfileRequest, Body()]
) -> BrowserProfileView:
    """Change the fields sent; the others keep their values."""
    return browser_profile_service().update(current_owner(router), profile_id, request)


@router.delete("/browser-profiles/<profile_id>", responses=NOT_FOUND)
def delete_browser_profile(profile_id: ProfileId) -> dict[str, str]:
    """Delete the profile and its saved browser state; tasks can no longer name it."""
    browser_profile_service().delete(current_owner(router), profile_id)
    return {}
