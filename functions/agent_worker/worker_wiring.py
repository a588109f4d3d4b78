"""The worker's composition root: adapters built once per container, from settings."""

from functools import lru_cache

from browser_tasks.adapters.browser_state_store import BrowserStateStore
from browser_tasks.adapters.dynamodb_steps import DynamoStepRepository
from browser_tasks.adapters.dynamodb_tasks import DynamoTaskRepository
from browser_tasks.adapters.kms_cipher import KmsSecretsCipher
from browser_tasks.adapters.s3_media import S3MediaStore
from browser_tasks.adapters.stepfunctions_callbacks import TaskTokenCallbacks
from browser_tasks.settings import get_settings
from chunk_runner import WorkerPorts


@lru_cache(maxsize=1)
def ports() -> WorkerPorts:
    settings = get_settings()
    cipher = KmsSecretsCipher(settings.secrets_key_arn)
    return WorkerPorts(
        tasks=DynamoTaskRepository(settings.tasks_table),
        steps=DynamoStepRepository(settings.steps_table),
        media=S3MediaStore(settings.media_bucket),
        browser_state=BrowserStateStore(settings.state_bucket, cipher),
        cipher=cipher,
        callbacks=TaskTokenCallbacks(),
    )
