"""The composition root: domain services wired to their AWS adapters, built once per process."""

from datetime import UTC, datetime
from functools import lru_cache

from browser_tasks.adapters.browser_state_store import BrowserStateStore, ProfileStateStore
from browser_tasks.adapters.dynamodb_api_keys import DynamoApiKeyRepository
from browser_tasks.adapters.dynamodb_balances import DynamoBalances
from browser_tasks.adapters.dynamodb_browser_profiles import DynamoBrowserProfileRepository
from browser_tasks.adapters.dynamodb_schedules import DynamoScheduleRepository
from browser_tasks.adapters.dynamodb_steps import DynamoStepRepository
from browser_tasks.adapters.dynamodb_task_index import DynamoTaskIndex
from browser_tasks.adapters.dynamodb_tasks import DynamoTaskRepository
from browser_tasks.adapters.dynamodb_trigger_claims import DynamoTriggerClaims
from browser_tasks.adapters.dynamodb_webhooks import DynamoWebhookStore
from browser_tasks.adapters.eventbridge_scheduler import EventBridgeSchedules
from browser_tasks.adapters.eventbridge_status_events import EventBridgeStatusEvents
from browser_tasks.adapters.kms_cipher import KmsSecretsCipher
from browser_tasks.adapters.network_addresses import ResolvedHosts
from browser_tasks.adapters.s3_media import S3MediaStore, S3UploadStore
from browser_tasks.adapters.s3_task_specs import S3TaskSpecs
from browser_tasks.adapters.stepfunctions_workflow import StepFunctionsWorkflow
from browser_tasks.adapters.webhook_http import HttpWebhookSender
from browser_tasks.domain.api_keys import ApiKeyService
from browser_tasks.domain.browser_profiles import BrowserProfileService
from browser_tasks.domain.execution_guard import ExecutionGuard
from browser_tasks.domain.metering import Metering
from browser_tasks.domain.schedules import ScheduleService
from browser_tasks.domain.task_pages import TaskPages
from browser_tasks.domain.task_views import TaskReader
from browser_tasks.domain.tasks import TaskService
from browser_tasks.domain.triggers import TriggerService
from browser_tasks.domain.uploads import UploadService
from browser_tasks.domain.webhooks import WebhookNotifier, WebhookService
from browser_tasks.settings import get_settings

# A webhook endpoint gets this long to answer; the notifier takes at most BatchSize (5)
# deliveries per invocation, well inside its 60 s timeout.
WEBHOOK_TIMEOUT_SECONDS = 5.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@lru_cache(maxsize=1)
def task_service() -> TaskService:
    settings = get_settings()
    return TaskService(
        tasks=DynamoTaskRepository(settings.tasks_table),
        cipher=KmsSecretsCipher(settings.secrets_key_arn),
        workflow=StepFunctionsWorkflow(settings.state_machine_arn),
        events=EventBridgeStatusEvents(settings.event_bus_name),
        uploads=upload_service(),
        profiles=DynamoBrowserProfileRepository(settings.profiles_table),
        metering=metering(),
        clock=utc_now,
        time_limit_seconds=settings.task_time_limit_seconds,
        max_time_limit_seconds=settings.task_max_time_limit_seconds,
    )


@lru_cache(maxsize=1)
def task_reader() -> TaskReader:
    settings = get_settings()
    return TaskReader(
        tasks=DynamoTaskRepository(settings.tasks_table),
        index=DynamoTaskIndex(settings.tasks_table),
        steps=DynamoStepRepository(settings.steps_table),
        media=S3MediaStore(settings.media_bucket),
        browser_data=BrowserStateStore(
            settings.state_bucket, KmsSecretsCipher(settings.secrets_key_arn)
        ),
        media_url_seconds=settings.media_url_seconds,
    )


@lru_cache(maxsize=1)
def task_pages() -> TaskPages:
    settings = get_settings()
    return TaskPages(
        tasks=DynamoTaskRepository(settings.tasks_table),
        steps=DynamoStepRepository(settings.steps_table),
        media=S3MediaStore(settings.media_bucket),
        media_url_seconds=settings.media_url_seconds,
    )


@lru_cache(maxsize=1)
def metering() -> Metering:
    settings = get_settings()
    return Metering(
        balances=DynamoBalances(settings.owners_table, settings.tasks_table),
        prices=settings.price_list,
        enabled=settings.billing_enabled,
    )


@lru_cache(maxsize=1)
def upload_service() -> UploadService:
    return UploadService(store=S3UploadStore(get_settings().media_bucket))


@lru_cache(maxsize=1)
def browser_profile_service() -> BrowserProfileService:
    settings = get_settings()
    return BrowserProfileService(
        profiles=DynamoBrowserProfileRepository(settings.profiles_table),
        states=ProfileStateStore(
            BrowserStateStore(settings.state_bucket, KmsSecretsCipher(settings.secrets_key_arn))
        ),
        clock=utc_now,
    )


@lru_cache(maxsize=1)
def api_key_service() -> ApiKeyService:
    return ApiKeyService(keys=DynamoApiKeyRepository(get_settings().api_keys_table), clock=utc_now)


@lru_cache(maxsize=1)
def execution_guard() -> ExecutionGuard:
    settings = get_settings()
    if not settings.state_machine_arn:
        # Without it every event would look like another machine's and be ignored silently.
        raise RuntimeError("STATE_MACHINE_ARN is not set: the guard cannot tell its executions")
    return ExecutionGuard(
        tasks=DynamoTaskRepository(settings.tasks_table),
        events=EventBridgeStatusEvents(settings.event_bus_name),
        state_machine_arn=settings.state_machine_arn,
        clock=utc_now,
    )


@lru_cache(maxsize=1)
def webhook_service() -> WebhookService:
    settings = get_settings()
    return WebhookService(
        store=DynamoWebhookStore(settings.owners_table),
        cipher=KmsSecretsCipher(settings.secrets_key_arn),
        events=EventBridgeStatusEvents(settings.event_bus_name),
        hosts=ResolvedHosts(),
        clock=utc_now,
        refuse_private_hosts=settings.block_private_networks,
    )


@lru_cache(maxsize=1)
def webhook_notifier() -> WebhookNotifier:
    settings = get_settings()
    return WebhookNotifier(
        store=DynamoWebhookStore(settings.owners_table),
        cipher=KmsSecretsCipher(settings.secrets_key_arn),
        sender=HttpWebhookSender(
            refuse_private=settings.block_private_networks,
            timeout_seconds=WEBHOOK_TIMEOUT_SECONDS,
        ),
        clock=utc_now,
    )


@lru_cache(maxsize=1)
def trigger_service() -> TriggerService:
    settings = get_settings()
    return TriggerService(
        tasks=task_service(),
        task_lookup=DynamoTaskRepository(settings.tasks_table),
        reader=task_reader(),
        claims=DynamoTriggerClaims(settings.trigger_claims_table),
        specs=S3TaskSpecs(),
        rejections=EventBridgeStatusEvents(settings.event_bus_name),
        specs_bucket=settings.task_specs_bucket,
        clock=utc_now,
    )


@lru_cache(maxsize=1)
def schedule_service() -> ScheduleService:
    settings = get_settings()
    return ScheduleService(
        schedules=DynamoScheduleRepository(settings.schedules_table),
        timers=EventBridgeSchedules(
            settings.schedule_group_name,
            settings.trigger_queue_arn,
            settings.scheduler_role_arn,
            settings.trigger_dead_letter_queue_arn,
        ),
        cipher=KmsSecretsCipher(settings.secrets_key_arn),
        task_service=task_service(),
        tasks=DynamoTaskRepository(settings.tasks_table),
        clock=utc_now,
    )


def reset_services() -> None:
    """Forget settings, services and clients (tests point them at a fresh moto)."""
    from browser_tasks.adapters.aws_clients import reset_clients

    get_settings.cache_clear()
    task_service.cache_clear()
    task_reader.cache_clear()
    task_pages.cache_clear()
    upload_service.cache_clear()
    browser_profile_service.cache_clear()
    metering.cache_clear()
    api_key_service.cache_clear()
    execution_guard.cache_clear()
    webhook_service.cache_clear()
    webhook_notifier.cache_clear()
    schedule_service.cache_clear()
    trigger_service.cache_clear()
    reset_clients()
