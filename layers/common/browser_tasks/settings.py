"""Where the resources are: read from the environment the template sets, once, on demand."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from browser_tasks.domain.pricing import PriceList


class Settings(BaseSettings):
    """Resource names from ``template.yaml``'s Globals (env var = field name, upper case)."""

    model_config = SettingsConfigDict(frozen=True)

    tasks_table: str
    steps_table: str
    api_keys_table: str
    owners_table: str
    profiles_table: str
    schedules_table: str
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
    # In AWS nothing we call on a caller's behalf (a webhook, the worker's browser) may
    # resolve to loopback, link-local or private addresses; `browser-tasks local` turns it off
    # (its test sites and receivers live on loopback). The worker reads the same variable.
    block_private_networks: bool = True
    # The notifier: its queue (to delay a failed delivery's retry) and the backoff's base;
    # a failed try n waits base x 2^n seconds (WebhookRetryBaseSeconds).
    webhook_queue_url: str = ""
    webhook_retry_base_seconds: int = Field(default=30, ge=1, le=600)
    # Metering (BillingEnabled, PriceList in the template): off, nothing is charged or refused.
    billing_enabled: bool = False
    # JSON naming only the prices that differ from v1's (see PriceList); "{}" keeps them all.
    price_list: PriceList = Field(default_factory=PriceList)
    # How long the presigned URLs the task reads hand out (screenshots, GIF, output files)
    # work (template: MediaUrlSeconds). A URL also dies with the role session that signed it.
    media_url_seconds: int = Field(default=900, ge=60, le=43_200)
    # The trigger function: where task specs are dropped (their results are written back
    # beside them), and its claims (one per S3 object version or event it acted on).
    task_specs_bucket: str = ""
    trigger_claims_table: str = ""
    # The API, which creates each scheduled task's EventBridge Scheduler schedule: the stack's
    # schedule group, and the schedule's target (the trigger queue), role and dead-letter queue.
    schedule_group_name: str = ""
    trigger_queue_arn: str = ""
    scheduler_role_arn: str = ""
    trigger_dead_letter_queue_arn: str = ""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings; tests call ``get_settings.cache_clear()`` after changing env."""
    return Settings()  # fields come from the environment
