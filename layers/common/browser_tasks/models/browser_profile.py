"""Browser profiles (v1 ``/browser-profiles``): browser settings a task takes by naming the
profile (``browser_profile_id``), and the browser state (cookies, localStorage) the worker
keeps for it between tasks when ``persist`` is true."""

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from browser_tasks.models.run_task import (
    DEFAULT_VIEWPORT_HEIGHT,
    DEFAULT_VIEWPORT_WIDTH,
    ProxyCountryCode,
    ViewportHeight,
    ViewportWidth,
    _not_blank,
)

# ``prof_`` + a ULID in lowercase Crockford base 32 (domain/ids.py); within run-task's
# browser_profile_id pattern, so a profile's id is always one a task can name.
PROFILE_ID_PATTERN = r"^prof_[0-7][0-9a-hjkmnp-tv-z]{25}$"
MAX_DESCRIPTION_LENGTH = 500

# A profile's setting → the run-task field it stands in for when the task leaves it unset.
TASK_SETTING_OF_PROFILE = {
    "ad_blocker": "use_adblock",
    "proxy": "use_proxy",
    "proxy_country_code": "proxy_country_code",
    "browser_viewport_width": "browser_viewport_width",
    "browser_viewport_height": "browser_viewport_height",
}


ProfileName = Annotated[
    str, StringConstraints(min_length=1, max_length=100), AfterValidator(_not_blank)
]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_LENGTH)]


class BrowserProfileSettings(BaseModel):
    """What a caller sets on a profile, with v1's defaults."""

    model_config = ConfigDict(frozen=True)

    profile_name: ProfileName
    description: Description = ""
    persist: bool = Field(
        default=True,
        description="Keep the browser's cookies and localStorage at the end of each task "
        "that uses the profile, for the next one.",
    )
    ad_blocker: bool = Field(default=True, description="use_adblock for tasks that leave it unset")
    proxy: bool = Field(default=True, description="use_proxy for tasks that leave it unset")
    proxy_country_code: ProxyCountryCode = "us"
    browser_viewport_width: ViewportWidth = DEFAULT_VIEWPORT_WIDTH
    browser_viewport_height: ViewportHeight = DEFAULT_VIEWPORT_HEIGHT


class CreateBrowserProfileRequest(BrowserProfileSettings):
    """Body of ``POST /api/v1/browser-profiles``."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class UpdateBrowserProfileRequest(BaseModel):
    """Body of ``PUT /api/v1/browser-profiles/{profile_id}``: the fields to change; the
    others keep their values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile_name: ProfileName | None = None
    description: Description | None = None
    persist: bool | None = None
    ad_blocker: bool | None = None
    proxy: bool | None = None
    proxy_country_code: ProxyCountryCode | None = None
    browser_viewport_width: ViewportWidth | None = None
    browser_viewport_height: ViewportHeight | None = None

    @field_validator("*")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Only a value the caller sent is validated: leaving a field out keeps it, null
        # would blank it.
        if value is None:
            raise ValueError("leave the field out to keep its value; it cannot be null")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the caller sent, with their new values."""
        return self.model_dump(exclude_unset=True)


class BrowserProfileView(BrowserProfileSettings):
    """A profile as the API answers it."""

    profile_id: str
    created_at: str
    updated_at: str


class BrowserProfileRecord(BrowserProfileView):
    """One item of the profiles table (keyed by owner and profile id). The saved browser
    state is not here: it is an encrypted object in the state bucket."""

    owner: str

    def view(self) -> BrowserProfileView:
        return BrowserProfileView.model_validate(self.model_dump(exclude={"owner"}))


class BrowserProfilePage(BaseModel):
    """``GET /browser-profiles``: one page of the owner's profiles, newest first."""

    model_config = ConfigDict(frozen=True)

    profiles: list[BrowserProfileView]
    total_pages: int
    page: int
    limit: int
    total_count: int
