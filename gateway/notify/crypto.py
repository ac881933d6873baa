"""Webhook URLs and signing secrets at rest: Fernet-encrypted with NOTIFY_ENCRYPTION_KEY.

A Slack incoming-webhook URL is itself the credential (whoever has it posts to the channel), and a
generic endpoint's secret signs our requests: both are stored encrypted, decrypted only to send,
and never logged, shown or put in an error. One Fernet key, or several comma-separated to rotate
(the first encrypts, all decrypt). Unset (development only): a key generated once in the instance
folder, with a warning."""
from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from gateway.config import Settings

log = logging.getLogger(__name__)
ENV_VAR = "NOTIFY_ENCRYPTION_KEY"
DEV_KEY_FILE = "notify_encryption.key"


class SecretError(ValueError):
    pass


@lru_cache(maxsize=4)
def _fernet_for(env_value: str, instance_path: str) -> MultiFernet:
    if env_value:
        try:
            return MultiFernet([Fernet(k.strip().encode()) for k in env_value.split(",") if k.strip()])
        except ValueError:  # the message must not echo the key
            raise RuntimeError(f"{ENV_VAR} must be Fernet keys (32 url-safe base64 bytes), comma-separated") from None
    path = Path(instance_path) / DEV_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: when web and worker start together, one writes the key, both read it
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
    log.warning("%s is not set: webhook URLs are encrypted with a development key stored in %s", ENV_VAR, path)
    return MultiFernet([Fernet(path.read_bytes().strip())])


def _fernet(settings: Settings | None = None) -> MultiFernet:
    settings = settings or Settings.from_env()
    return _fernet_for(settings.notify_encryption_key, settings.instance_path)


def encrypt(value: str, settings: Settings | None = None) -> str:
    return _fernet(settings).encrypt(value.encode()).decode() if value else ""


def decrypt(token: str, settings: Settings | None = None) -> str:
    if not token:
        return ""
    try:
        return _fernet(settings).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretError(f"webhook secret cannot be decrypted: is {ENV_VAR} the key it was stored with?") from None
