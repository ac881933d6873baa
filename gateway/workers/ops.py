"""Daily collections housekeeping, run by the scheduler (or `gateway ops-daily`)."""
from __future__ import annotations

import datetime as dt

from gateway.config import Settings
from gateway.db import session_scope
from gateway.i18n import Speaker
from gateway.ops import flags, promises


class FutureDate(ValueError):
    pass


def daily_collections(day: str | None = None) -> dict:
    """Decide kept/broken for promises whose date has passed and raise new flags. Both steps
    only act on what is not done yet, so running it twice is harmless. A day still to come is
    refused: it would break promises and raise flags that cannot be taken back."""
    settings = Settings.from_env()
    now = Speaker("en", timezone=settings.default_timezone).today()
    today = dt.date.fromisoformat(day) if day else now
    if today > now:
        raise FutureDate(f"--date {today} is in the future (today is {now} in {settings.default_timezone})")
    with session_scope(settings) as session:
        evaluated = promises.evaluate_due(session, today)
        raised = flags.scan(session, today, settings)
        return {"date": today.isoformat(), "promises": {p.id: p.status for p in evaluated},
                "flags": [f.dedupe_key for f in raised]}


def monthly_spot_checks(month: str | None = None) -> dict:
    """Draw every lender's spot check of the month just ended (SPOT_CHECK_PER_STRATUM loans per
    stratum). A month already drawn is left as it is, so running it twice is harmless."""
    from sqlmodel import select

    from gateway.models import FieldPartner
    from gateway.ops import spotchecks

    settings = Settings.from_env()
    today = Speaker("en", timezone=settings.default_timezone).today()
    month = month or (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    drawn = {}
    with session_scope(settings) as session:
        for partner in session.exec(select(FieldPartner).order_by(FieldPartner.id)).all():
            check, new = spotchecks.draw(session, partner, month, settings.spot_check_per_stratum, actor="cron")
            drawn[partner.name] = {"spot_check_id": check.id, "drawn": new}
    return {"month": month, "lenders": drawn}
