"""Device secret keys at rest: Fernet-encrypted with PAYG_KEY_ENCRYPTION_KEY.

Whoever holds a device's secret key can make codes for it, i.e. free light. So keys are stored
encrypted, decrypted only to make a code, and never logged or returned by an API.

PAYG_KEY_ENCRYPTION_KEY holds one Fernet key, or several separated by commas to rotate: the
first encrypts, all decrypt. Unset (development only), a key is generated once under the
instance folder and a warning is logged.
"""
from __future__ import annotations

import logging
import re

from cryptography.fernet import InvalidToken, MultiFernet

from gateway import keyring
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


def _fernet() -> MultiFernet:
    settings = Settings.from_env()
    return keyring.fernet(settings.payg_key_encryption_key, ENV_VAR, settings.instance_path, DEV_KEY_FILE,
                          "device keys")


def encrypt(secret_key: str) -> str:
    return _fernet().encrypt(normalize_secret_key(secret_key).encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DeviceKeyError(f"device key cannot be decrypted: is {ENV_VAR} the key it was stored with?") from None
