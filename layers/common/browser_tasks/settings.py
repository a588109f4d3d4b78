"""Where the resources are: read from the environment the template sets, once, on demand."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Resource names from ``template.yaml``'s Globals (env var = field name, upper case)."""

    model_config = SettingsConfigDict(frozen=True)

    tasks_table: str
    steps_table: str
    api_keys_table: str
    owners_table: str
    secrets_key_arn: str
    work_queue_url: str
    media_bucket: str
    state_bucket: str
    event_bus_name: str
    # Only the functions that start or watch executions (API, triggers, execution guard)
    # are given the state machine.
    state_machine_arn: str = ""
    # Operator settings: a task's agent-time budget when the caller names none, and the most
    # a caller may name (run-task's time_limit_seconds). The state machine enforces it.
    task_time_limit_seconds: int = Field(default=3600, ge=10, le=86_400)
    task_max_time_limit_seconds: int = Field(default=14_400, ge=10, le=86_400)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()  # fields come from the environment
