"""When a borrower may be contacted: never in their local quiet hours."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from gateway.config import Settings


def _clock(text: str) -> dt.time:
    return dt.time.fromisoformat(text)


def in_quiet_hours(local: dt.datetime, settings: Settings) -> bool:
    start, end, t = _clock(settings.quiet_hours_start), _clock(settings.quiet_hours_end), local.time()
    if start == end:
        return False
    return (t >= start or t < end) if start > end else (start <= t < end)


def next_allowed(now: dt.datetime, timezone: str, settings: Settings) -> dt.datetime:
    """`now` if the borrower may be contacted now, else the end of their quiet hours (UTC)."""
    tz = ZoneInfo(timezone)
    local = now.astimezone(tz)
    if not in_quiet_hours(local, settings):
        return now
    end = _clock(settings.quiet_hours_end)
    day = local.date() if local.time() < end else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, end, tzinfo=tz).astimezone(dt.UTC)
