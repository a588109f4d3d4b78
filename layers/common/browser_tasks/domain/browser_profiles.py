"""Browser profiles: their settings, what a task naming one takes from it, and its saved
browser state (cookies and localStorage, kept between tasks while ``persist`` is true).

Every read and write is scoped to the caller: another owner's profile is answered like an
unknown one.
"""

import math
from collections.abc import Callable, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from browser_tasks.domain.ids import new_profile_id
from browser_tasks.domain.ports import BrowserProfileRepository, ProfileStates
from browser_tasks.errors import BrowserProfileNotFound
from browser_tasks.models.browser_profile import (
    TASK_SETTING_OF_PROFILE,
    BrowserProfilePage,
    BrowserProfileRecord,
    BrowserProfileView,
    CreateBrowserProfileRequest,
    UpdateBrowserProfileRequest,
)
from browser_tasks.models.task import utc_timestamp


def task_settings_with_profile(
    task_settings: dict[str, Any], profile: BrowserProfileRecord, set_by_task: Set[str]
) -> dict[str, Any]:
    """The task's stored settings, with the profile's in place of every one the run-task
    request left at its default (``set_by_task``: the fields the request did set)."""
    taken = {
        task_field: getattr(profile, profile_field)
        for profile_field, task_field in TASK_SETTING_OF_PROFILE.items()
        if task_field not in set_by_task
    }
    return {**task_settings, **taken}


@dataclass(frozen=True)
class BrowserProfileService:
    profiles: BrowserProfileRepository
    states: ProfileStates
    clock: Callable[[], datetime]

    def create(self, owner: str, request: CreateBrowserProfileRequest) -> BrowserProfileView:
        now = self.clock()
        record = BrowserProfileRecord(
            **request.model_dump(),
            profile_id=new_profile_id(now),
            owner=owner,
            created_at=utc_timestamp(now),
            updated_at=utc_timestamp(now),
        )
        self.profiles.create(record)
        return record.view()

    def get(self, owner: str, profile_id: str) -> BrowserProfileView:
        """Raises ``BrowserProfileNotFound`` for an unknown id and another owner's alike."""
        return self._owned(owner, profile_id).view()

    def page(self, owner: str, page: int, limit: int) -> BrowserProfilePage:
        """One page of the owner's profiles, newest first (page N reads the N-1 before it)."""
        total = self.profiles.count(owner)
        skip = (page - 1) * limit
        records = self.profiles.newest_first(owner, skip=skip, take=limit) if skip < total else []
        return BrowserProfilePage(
            profiles=[r.view() for r in records],
            total_pages=math.ceil(total / limit),
            page=page,
            limit=limit,
            total_count=total,
        )

    def update(
        self, owner: str, profile_id: str, request: UpdateBrowserProfileRequest
    ) -> BrowserProfileView:
        """Change the fields the request sets; an empty request changes nothing.

        Raises ``BrowserProfileNotFound`` for an unknown id and another owner's alike.
        """
        changes = request.changes()
        if not changes:
            return self.get(owner, profile_id)
        updated = self.profiles.update(owner, profile_id, changes, utc_timestamp(self.clock()))
        if updated is None:
            raise BrowserProfileNotFound()
        return updated.view()

    def delete(self, owner: str, profile_id: str) -> None:
        """Delete the profile and its saved browser state.

        The profile goes first: a task ending meanwhile then finds it gone and saves nothing
        (``save_state``), so the state deleted next cannot come back.

        Raises ``BrowserProfileNotFound`` for an unknown id and another owner's alike.
        """
        if not self.profiles.delete(owner, profile_id):
            raise BrowserProfileNotFound()
        self.states.delete(owner, profile_id)

    def load_state(self, owner: str, profile_id: str) -> dict[str, Any] | None:
        """The profile's saved browser state, for a task starting with it; None if none."""
        return self.states.load(owner, profile_id)

    def save_state(self, owner: str, profile_id: str, state: dict[str, Any]) -> bool:
        """Keep ``state`` (a task's browser at its end) as the profile's, if the profile still
        exists and persists; whether it was kept.

        A profile deleted while its task ran is not brought back: read again after the write,
        a profile deleted in between has the state just written removed too.
        """
        profile = self.profiles.get(owner, profile_id)
        if profile is None or not profile.persist:
            return False
        self.states.save(owner, profile_id, state)
        if self.profiles.get(owner, profile_id) is None:
            self.states.delete(owner, profile_id)
            return False
        return True

    def _owned(self, owner: str, profile_id: str) -> BrowserProfileRecord:
        record = self.profiles.get(owner, profile_id)
        if record is None:
            raise BrowserProfileNotFound()
        return record
