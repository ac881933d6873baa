"""Webhook URLs and signing secrets at rest: Fernet-encrypted with NOTIFY_ENCRYPTION_KEY.

A Slack incoming-webhook URL is itself the credential (whoever has it posts to the channel), and a
generic endpoint's secret signs our requests: both are stored encrypted, decrypted only to send,
and never logged, shown or put in an error. One Fernet key, or several comma-separated to rotate
(the first encrypts, all decrypt). Unset (development only): a key generated once in the instance
folder, with a warning."""
from __future__ import annotations

import logging

from cryptography.fernet import InvalidToken, MultiFernet

from gateway import keyring
from gateway.config import Settings

log = logging.getLogger(__name__)
ENV_VAR = "NOTIFY_ENCRYPTION_KEY"
DEV_KEY_FILE = "notify_encryption.key"


class SecretError(ValueError):
    pass


def _fernet(settings: Settings | None = None) -> MultiFernet:
    settings = settings or Settings.from_env()
    return keyring.fernet(settings.notify_encryption_key, ENV_VAR, settings.instance_path, DEV_KEY_FILE,
                          "webhook URLs and secrets")


def encrypt(value: str, settings: Settings | None = None) -> str:
    return _fernet(settings).encrypt(value.encode()).decode() if value else ""


def decrypt(token: str, settings: Settings | None = None) -> str:
    if not token:
        return ""
    try:
        return _fernet(settings).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretError(f"webhook secret cannot be decrypted: is {ENV_VAR} the key it was stored with?") from None
