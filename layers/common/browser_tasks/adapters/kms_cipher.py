"""Envelope encryption of secrets under the customer-managed KMS key.

Powertools data masking over the AWS Encryption SDK: one data key per message, wrapped by
KMS, with the encryption context signed into the message, so decrypting with another
``{task_id, owner}`` fails.
"""

from functools import cached_property

from aws_lambda_powertools.utilities.data_masking import DataMasking
from aws_lambda_powertools.utilities.data_masking.provider.kms.aws_encryption_sdk import (
    AWSEncryptionSDKProvider,
)

from browser_tasks.errors import ServiceUnavailable


class KmsSecretsCipher:
    def __init__(self, key_arn: str) -> None:
        self._key_arn = key_arn

    @cached_property
    def _masking(self) -> DataMasking:
        return DataMasking(provider=AWSEncryptionSDKProvider(keys=[self._key_arn]))

    def encrypt(self, plaintext: str, context: dict[str, str]) -> str:
        try:
            return str(self._masking.encrypt(plaintext, None, **context))
        except Exception as error:  # the SDK wraps KMS failures in several exception types
            raise ServiceUnavailable(
                f"Encrypting the secrets failed ({type(error).__name__})"
            ) from error

    def decrypt(self, ciphertext: str, context: dict[str, str]) -> str:
        """Raises if the key is unusable or ``context`` is not the one used to encrypt."""
        return str(self._masking.decrypt(ciphertext, None, **context))
