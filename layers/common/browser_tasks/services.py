"""The composition root: domain services wired to their AWS adapters, built once per process."""

from datetime import UTC, datetime
from functools import lru_cache

from browser_tasks.adapters.dynamodb_api_keys import DynamoApiKeyRepository
from browser_tasks.adapters.dynamodb_task_guard import DynamoUnfinishedTasks
from browser_tasks.adapters.dynamodb_tasks import DynamoTaskRepository
from browser_tasks.adapters.eventbridge_status_events import EventBridgeStatusEvents
from browser_tasks.adapters.kms_cipher import KmsSecretsCipher
from browser_tasks.adapters.s3_media import S3UploadStore
from browser_tasks.adapters.stepfunctions_workflow import StepFunctionsWorkflow
from browser_tasks.domain.api_keys import ApiKeyService
from browser_tasks.domain.execution_guard import ExecutionGuard
from browser_tasks.domain.tasks import TaskService
from browser_tasks.domain.uploads import UploadService
from browser_tasks.settings import get_settings


def utc_now() -> datetime:
    return datetime.now(UTC)


@lru_cache(maxsize=1)
def task_service() -> TaskService:
    settings = get_settings()
    return TaskService(
        tasks=DynamoTaskRepository(settings.tasks_table),
        cipher=KmsSecretsCipher(settings.secrets_key_arn),
        workflow=StepFunctionsWorkflow(settings.state_machine_arn),
        uploads=upload_service(),
        clock=utc_now,
        time_limit_seconds=settings.task_time_limit_seconds,
        max_time_limit_seconds=settings.task_max_time_limit_seconds,
    )


@lru_cache(maxsize=1)
def upload_service() -> UploadService:
    return UploadService(store=S3UploadStore(get_settings().media_bucket))


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
        tasks=DynamoUnfinishedTasks(settings.tasks_table),
        events=EventBridgeStatusEvents(settings.event_bus_name),
        state_machine_arn=settings.state_machine_arn,
        clock=utc_now,
    )


def reset_services() -> None:
    """Forget settings, services and clients (tests point them at a fresh moto)."""
    from browser_tasks.adapters.aws_clients import reset_clients

    get_settings.cache_clear()
    task_service.cache_clear()
    upload_service.cache_clear()
    api_key_service.cache_clear()
    execution_guard.cache_clear()
    reset_clients()
