"""Keys the gateway keeps for itself: Fernet keys for secrets at rest (PAYG device keys, webhook
URLs) from a setting, and development keys generated once in the instance folder when a setting
is empty (demo mode, tests), so every process of one deployment reads the same key."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet

log = logging.getLogger(__name__)


def dev_key(instance_path: str, name: str, generate: Callable[[], bytes]) -> bytes:
    """The key in `<instance>/<name>`, written by `generate()` the first time."""
    path = Path(instance_path) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: when several processes start together, one writes the key, all read it
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as fh:
            fh.write(generate())
    return path.read_bytes().strip()


@lru_cache(maxsize=8)
def fernet(setting_value: str, variable: str, instance_path: str, dev_file: str, what: str) -> MultiFernet:
    """The Fernet keys of `variable` (comma-separated: the first encrypts, all decrypt); unset, a
    development key in the instance folder, with a warning naming `what` it protects."""
    if setting_value:
        try:
            return MultiFernet([Fernet(k.strip().encode()) for k in setting_value.split(",") if k.strip()])
        except ValueError:  # the message must not echo the key
            raise RuntimeError(f"{variable} must be Fernet keys (32 url-safe base64 bytes), comma-separated") from None
    key = dev_key(instance_path, dev_file, Fernet.generate_key)
    log.warning("%s is not set: %s are encrypted with a development key stored in %s; set %s in production",
                variable, what, Path(instance_path) / dev_file, variable)
    return MultiFernet([Fernet(key)])
