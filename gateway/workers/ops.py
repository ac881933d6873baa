"""Daily collections housekeeping, run by the scheduler (or `gateway ops-daily`)."""
from __future__ import annotations

import datetime as dt

from gateway.config import Settings
from gateway.db import session_scope
from gateway.i18n import Speaker
from gateway.ops import flags, promises


def daily_collections(day: str | None = None) -> dict:
    """Decide kept/broken for promises whose date has passed and raise new flags. Both steps
    only act on what is not done yet, so running it twice is harmless."""
    settings = Settings.from_env()
    today = dt.date.fromisoformat(day) if day else Speaker("en", timezone=settings.default_timezone).today()
    with session_scope(settings) as session:
        evaluated = promises.evaluate_due(session, today)
        raised = flags.scan(session, today, settings)
        return {"date": today.isoformat(), "promises": {p.id: p.status for p in evaluated},
                "flags": [f.dedupe_key for f in raised]}
