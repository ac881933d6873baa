"""Device secret keys at rest: Fernet-encrypted with PAYG_KEY_ENCRYPTION_KEY.

Whoever holds a device's secret key can make codes for it, i.e. free light. So keys are stored
encrypted, decrypted only to make a code, and never logged or returned by an API.

PAYG_KEY_ENCRYPTION_KEY holds one Fernet key, or several separated by commas to rotate: the
first encrypts, all decrypt. Unset (development only), a key is generated once under the
instance folder and a warning is logged.
"""
from __future__ import annotations

import logging
import os
import re
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from gateway.config import Settings

log = logging.getLogger(__name__)
ENV_VAR = "PAYG_KEY_ENCRYPTION_KEY"
DEV_KEY_FILE = "payg_key_encryption.key"
_HEX32 = re.compile(r"[0-9a-f]{32}")


class DeviceKeyError(ValueError):
    pass


def normalize_secret_key(raw) -> str:
    """A device secret key as OpenPAYGO takes it: 32 hexadecimal characters (16 bytes)."""
    key = raw.strip().lower() if isinstance(raw, str) else ""
    if not _HEX32.fullmatch(key):
        raise DeviceKeyError("secret_key must be 32 hexadecimal characters")
    return key


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
    log.warning("%s is not set: device keys are encrypted with a development key stored in %s; "
                "set %s in production", ENV_VAR, path, ENV_VAR)
    return MultiFernet([Fernet(path.read_bytes().strip())])


def _fernet() -> MultiFernet:
    settings = Settings.from_env()
    return _fernet_for(settings.payg_key_encryption_key, settings.instance_path)


def encrypt(secret_key: str) -> str:
    return _fernet().encrypt(normalize_secret_key(secret_key).encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DeviceKeyError(f"device key cannot be decrypted: is {ENV_VAR} the key it was stored with?") from None
