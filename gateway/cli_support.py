"""What every `gateway` command shares: bad input is one line on standard error and exit code 2."""
from __future__ import annotations

import datetime as dt

import click

from gateway.db import MAX_ID

# A database id argument: a larger number would overflow the database's integer (a traceback, not an answer).
ID = click.IntRange(1, MAX_ID)


class Refused(click.ClickException):
    """Bad input or an impossible request: `Error: ...`, one line, exit code 2 (as click's usage errors)."""

    exit_code = 2


def parse_date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise Refused(f"{option} must be a date YYYY-MM-DD, not {value!r}") from None


def write_output(output: str, data: bytes) -> None:
    """A report's bytes to the file `output`, or to standard output for "-"; a file that cannot be
    written is one line, exit code 2."""
    try:
        with click.open_file(output, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise Refused(f"cannot write {output}: {exc.strerror}") from None


def port_taken(port: int, exc: OSError) -> str:
    """A stand-in that cannot listen: most often `make run` (`serve --stand-ins`) already runs one there."""
    return (f"cannot listen on port {port} ({exc.strerror or exc}): is `gateway serve --stand-ins` (make run) "
            f"already running one? Stop it, or choose another --port")
