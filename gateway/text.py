"""Free text sent to the APIs: it must be a string the database can hold (PostgreSQL text
cannot hold NUL, and nothing can store a lone UTF-16 surrogate), at most as long as its column."""
from __future__ import annotations


class TextError(ValueError):
    pass


def text(value, name: str, *, limit: int | None = None, default: str | None = "") -> str | None:
    """`value` stripped; `default` when absent (None). A clear TextError for anything else."""
    if value is None:
        return default
    if not isinstance(value, str):
        raise TextError(f"{name} must be text")
    if "\x00" in value:
        raise TextError(f"{name} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise TextError(f"{name} must be valid Unicode text") from None
    value = value.strip()
    if limit is not None and len(value) > limit:
        raise TextError(f"{name} must be at most {limit} characters")
    return value
