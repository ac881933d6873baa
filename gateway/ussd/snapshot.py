"""What the USSD menu reads about a caller, in one SQL statement, kept in Redis for the session.

A USSD session is a few hops a few seconds apart, and Africa's Talking replays the whole path on
each one. The first hop reads the caller, their loans, each loan's unpaid installments and
credit, and any PAYG device, in one statement; the session's later hops read that snapshot back
from Redis instead of the database (in the rate limiter's round trip, gateway/limits.py; one GET
when limits are off). The snapshot lives `USSD_SNAPSHOT_TTL` seconds
(default 180, the longest USSD session). Within one session the menu therefore shows the
balance as it was when the borrower dialled; a new session always reads the database.

Writes (payment intents, promises, language, call-back requests) never use the snapshot: they
go to the database on the hop that makes them. If Redis is unreachable every hop reads the
database, as before: the cache must never take USSD down.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from functools import lru_cache

from redis.exceptions import RedisError
from sqlalchemy import Connection, Engine, bindparam, select
from sqlmodel import Session

from gateway import ledger
from gateway.config import Settings
from gateway.db import get_engine
from gateway.models import Borrower, Device, Installment, Loan, LoanStatus

log = logging.getLogger(__name__)
KEY = "ussd:snapshot:{session_id}"


@dataclass(frozen=True)
class Caller:
    id: int
    name: str
    phone: str
    language: str
    country: str
    timezone: str


@dataclass(frozen=True)
class DeviceView:
    credit_until: dt.date | None
    unlocked: bool  # paid off: no more codes needed


@dataclass(frozen=True)
class LoanView:
    id: int
    borrower_id: int
    account_ref: str
    product: str
    currency: str
    status: str
    credit: int
    unpaid: tuple[tuple[dt.date, int], ...]  # (due date, still owed), oldest first
    device: DeviceView | None

    def balance(self, today: dt.date) -> ledger.Balance:
        return ledger.balance_of(self.currency, self.credit, list(self.unpaid), today)


@dataclass(frozen=True)
class Snapshot:
    caller: Caller
    loans: tuple[LoanView, ...]  # the loans the menu shows


_STATEMENT = (
    select(Borrower.id, Borrower.name, Borrower.phone, Borrower.language, Borrower.country, Borrower.timezone,
           Loan.id, Loan.account_ref, Loan.product, Loan.currency, Loan.status, ledger.credit_of(Loan.id),
           Device.id, Device.credit_until, Device.payg_disabled, Installment.due_date, ledger.UNPAID)
    .select_from(Borrower).join(Loan, Loan.borrower_id == Borrower.id)
    .outerjoin(Device, Device.loan_id == Loan.id)
    .outerjoin(Installment, (Installment.loan_id == Loan.id) & (ledger.UNPAID > 0))
)


# Built once: building and keying the statement on every first hop cost as much CPU as running it.
_BY_PHONE = (_STATEMENT.where(Borrower.phone == bindparam("phone"))
             .order_by(Loan.created_at, Loan.id, Installment.due_date, Installment.seq))


def read(session: Session | Connection, e164: str) -> Snapshot | None:
    """The caller and the loans the menu shows (None: no borrower with a loan has this number)."""
    rows = session.execute(_BY_PHONE, {"phone": e164}).all()
    if not rows:
        return None
    loans: dict[int, dict] = {}
    for r in rows:
        loan = loans.setdefault(r[6], dict(
            id=r[6], borrower_id=r[0], account_ref=r[7], product=r[8], currency=r[9], status=r[10], credit=int(r[11]),
            unpaid=[], device=DeviceView(r[13], bool(r[14])) if r[12] is not None else None))
        if r[15] is not None:
            loan["unpaid"].append((r[15], int(r[16])))
    views = [LoanView(**{**loan, "unpaid": tuple(loan["unpaid"])}) for loan in loans.values()]
    first = rows[0]
    return Snapshot(Caller(*first[:6]), tuple(_shown(views)))


def read_alone(settings: Settings, e164: str) -> Snapshot | None:
    """`read`, on a connection of its own: in autocommit on PostgreSQL (no BEGIN and no COMMIT round trips for
    one read-only statement). SQLite keeps its usual transaction (the engine's BEGIN hook owns it)."""
    engine = get_engine(settings)
    if engine.dialect.name != "sqlite":
        engine = _autocommit(engine)
    with engine.connect() as conn:
        return read(conn, e164)


@lru_cache(maxsize=8)
def _autocommit(engine: Engine) -> Engine:
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _shown(loans: list[LoanView]) -> list[LoanView]:
    open_loans = [x for x in loans if x.status in (LoanStatus.active, LoanStatus.defaulted, LoanStatus.pending)]
    return open_loans or loans[-1:]


# --- the session's copy in Redis ---------------------------------------------------------------

def _dump(snap: Snapshot) -> str:
    return json.dumps({
        "caller": vars(snap.caller),
        "loans": [{**vars(loan), "unpaid": [[d.isoformat(), owed] for d, owed in loan.unpaid],
                   "device": loan.device and {"credit_until": loan.device.credit_until
                                              and loan.device.credit_until.isoformat(),
                                              "unlocked": loan.device.unlocked}} for loan in snap.loans],
    }, separators=(",", ":"))


def _load(raw: bytes | str) -> Snapshot:
    data = json.loads(raw)
    loans = []
    for l in data["loans"]:  # noqa: E741
        until = l["device"] and l["device"]["credit_until"]
        device = l["device"] and DeviceView(until and dt.date.fromisoformat(until), l["device"]["unlocked"])
        loans.append(LoanView(**{**l, "unpaid": tuple((dt.date.fromisoformat(d), owed) for d, owed in l["unpaid"]),
                                 "device": device}))
    return Snapshot(Caller(**data["caller"]), tuple(loans))


def prefetch_key(settings):
    """For the rate limiter's round trip: the Redis key of a request's session snapshot (None: not kept)."""
    if settings.ussd_snapshot_ttl <= 0:
        return None
    return lambda form: KEY.format(session_id=form.get("sessionId", "").strip())


def cached(redis, session_id: str, e164: str) -> Snapshot | None:
    """This session's snapshot, if it has one and it is this caller's."""
    try:
        raw = redis.get(KEY.format(session_id=session_id))
    except RedisError as exc:
        log.warning("USSD snapshot not read from Redis: %s", exc)
        return None
    return parse(raw, session_id, e164)


def parse(raw: bytes | str | None, session_id: str, e164: str) -> Snapshot | None:
    """The snapshot read from Redis (by `cached` or in the rate limiter's round trip), if it is this caller's."""
    if raw is None:
        return None
    try:
        snap = _load(raw)
    except (ValueError, KeyError, TypeError) as exc:  # written by another version: read the database
        log.warning("USSD snapshot for session %s unreadable: %s", session_id, exc)
        return None
    return snap if snap.caller.phone == e164 else None


def keep(redis, session_id: str, snap: Snapshot, ttl: int) -> None:
    try:
        redis.set(KEY.format(session_id=session_id), _dump(snap), ex=ttl)
    except RedisError as exc:
        log.warning("USSD snapshot not kept in Redis: %s", exc)
