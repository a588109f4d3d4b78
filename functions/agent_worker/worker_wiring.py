"""The worker's composition root: adapters built once per container, from settings."""

import os
from functools import lru_cache

from browser_tasks.adapters.browser_state_store import BrowserStateStore
from browser_tasks.adapters.dynamodb_steps import DynamoStepRepository
from browser_tasks.adapters.dynamodb_tasks import DynamoTaskRepository
from browser_tasks.adapters.kms_cipher import KmsSecretsCipher
from browser_tasks.adapters.llm_models import ModelCredentials
from browser_tasks.adapters.s3_media import S3MediaStore
from browser_tasks.adapters.stepfunctions_callbacks import TaskTokenCallbacks
from browser_tasks.settings import get_settings
from chunk_runner import WorkerPorts
from worker_settings import get_worker_settings, provider_keys


@lru_cache(maxsize=1)
def ports() -> WorkerPorts:
    settings = get_settings()
    return WorkerPorts(
        tasks=DynamoTaskRepository(settings.tasks_table),
        steps=DynamoStepRepository(settings.steps_table),
        media=S3MediaStore(settings.media_bucket),
        browser_state=BrowserStateStore(
            settings.state_bucket, KmsSecretsCipher(settings.secrets_key_arn)
        ),
        cipher=KmsSecretsCipher(settings.secrets_key_arn),
        callbacks=TaskTokenCallbacks(),
    )


@lru_cache(maxsize=1)
def credentials() -> ModelCredentials:
    settings = get_worker_settings()
    return ModelCredentials(
        keys=provider_keys(settings),
        openai_base_url=os.environ.get("OPENAI_BASE_URL") or None,
        anthropic_via_bedrock=settings.anthropic_via_bedrock,
        aws_region=os.environ.get("AWS_REGION"),
    )
