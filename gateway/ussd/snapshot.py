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

Many lenders: the USSD service code dialled selects the lenders (a code no lender registered is
shared by all, gateway/lenders/partners.py), and one person may be a borrower at several of them.
A snapshot is one account (the borrower row, its loans, its lender); the session keeps the list
of accounts behind the code dialled, each whole, under a key of the session and the code.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from functools import lru_cache

from redis.exceptions import RedisError
from sqlalchemy import Connection, Engine, bindparam, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from gateway import ledger
from gateway.config import Settings
from gateway.db import get_engine
from gateway.models import Borrower, CodeKind, Device, FieldPartner, Installment, LenderCode, Loan, LoanStatus

log = logging.getLogger(__name__)
KEY = "ussd:snapshot:{session_id}:{code}"


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
class Lender:
    id: int
    name: str
    help_line: str
    named: bool  # the gateway serves several lenders: the menu says whose it is (and speaks its languages)
    languages: str = "sw,en"  # FieldPartner.languages


@dataclass(frozen=True)
class Snapshot:
    """One account: the caller as a borrower of one lender, and the loans the menu shows."""

    caller: Caller
    loans: tuple[LoanView, ...]  # the loans the menu shows
    lender: Lender | None = None


_OTHER = aliased(FieldPartner)
_STATEMENT = (
    select(Borrower.id, Borrower.name, Borrower.phone, Borrower.language, Borrower.country, Borrower.timezone,
           Loan.id, Loan.account_ref, Loan.product, Loan.currency, Loan.status, ledger.credit_of(Loan.id),
           Device.id, Device.credit_until, Device.payg_disabled, Installment.due_date, ledger.UNPAID,
           FieldPartner.id, FieldPartner.name, FieldPartner.help_line,
           select(func.count(_OTHER.id)).scalar_subquery(), FieldPartner.languages)
    .select_from(Borrower).join(Loan, Loan.borrower_id == Borrower.id)
    .join(FieldPartner, FieldPartner.id == Borrower.field_partner_id)
    .outerjoin(Device, Device.loan_id == Loan.id)
    .outerjoin(Installment, (Installment.loan_id == Loan.id) & (ledger.UNPAID > 0))
)


def _for_code(statement):
    """Only the accounts at the lenders behind the USSD code `code` (all lenders when no lender claims it)."""
    claimed = select(LenderCode.field_partner_id).where(LenderCode.kind == CodeKind.USSD,
                                                        LenderCode.code == bindparam("code"))
    return statement.where(or_(~claimed.exists(), Borrower.field_partner_id.in_(claimed)))


# Built once, the phone and the code as parameters: building and keying the statement on every first
# hop cost as much CPU as running it.
_BY_PHONE = _STATEMENT.where(Borrower.phone == bindparam("phone")).order_by(
    Borrower.field_partner_id, Loan.created_at, Loan.id, Installment.due_date, Installment.seq)
_BY_PHONE_AT_CODE = _for_code(_BY_PHONE)


def read(session: Session | Connection, e164: str, service_code: str = "") -> tuple[Snapshot, ...]:
    """The caller's accounts behind this USSD code, one per lender, each with the loans the menu shows
    (empty: no borrower with a loan has this number there). Without a code: at every lender."""
    code = service_code.strip()
    rows = session.execute(_BY_PHONE_AT_CODE if code else _BY_PHONE, {"phone": e164, "code": code}).all()
    accounts: dict[int, tuple] = {}
    for r in rows:
        _, loans = accounts.setdefault(r[0], (r, {}))
        loan = loans.setdefault(r[6], dict(
            id=r[6], borrower_id=r[0], account_ref=r[7], product=r[8], currency=r[9], status=r[10], credit=int(r[11]),
            unpaid=[], device=DeviceView(r[13], bool(r[14])) if r[12] is not None else None))
        if r[15] is not None:
            loan["unpaid"].append((r[15], int(r[16])))
    snaps = []
    for first, loans in accounts.values():
        views = [LoanView(**{**loan, "unpaid": tuple(loan["unpaid"])}) for loan in loans.values()]
        snaps.append(Snapshot(Caller(*first[:6]), tuple(_shown(views)),
                              Lender(first[17], first[18], first[19], int(first[20]) > 1, first[21])))
    return tuple(snaps)


def read_alone(settings: Settings, e164: str, service_code: str = "") -> tuple[Snapshot, ...]:
    """`read`, on a connection of its own: in autocommit on PostgreSQL (no BEGIN and no COMMIT round trips for
    one read-only statement). SQLite keeps its usual transaction (the engine's BEGIN hook owns it)."""
    engine = get_engine(settings)
    if engine.dialect.name != "sqlite":
        engine = _autocommit(engine)
    with engine.connect() as conn:
        return read(conn, e164, service_code)


@lru_cache(maxsize=8)
def _autocommit(engine: Engine) -> Engine:
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _shown(loans: list[LoanView]) -> list[LoanView]:
    open_loans = [x for x in loans if x.status in (LoanStatus.active, LoanStatus.defaulted, LoanStatus.pending)]
    return open_loans or loans[-1:]


# --- the session's copy in Redis ---------------------------------------------------------------

def _dump_one(snap: Snapshot) -> dict:
    return {
        "caller": vars(snap.caller),
        "lender": snap.lender and vars(snap.lender),
        "loans": [{**vars(loan), "unpaid": [[d.isoformat(), owed] for d, owed in loan.unpaid],
                   "device": loan.device and {"credit_until": loan.device.credit_until
                                              and loan.device.credit_until.isoformat(),
                                              "unlocked": loan.device.unlocked}} for loan in snap.loans],
    }


def _dump(code: str, snaps: tuple[Snapshot, ...]) -> str:
    return json.dumps({"code": code, "accounts": [_dump_one(snap) for snap in snaps]}, separators=(",", ":"))


def _load_one(data: dict) -> Snapshot:
    loans = []
    for l in data["loans"]:  # noqa: E741
        until = l["device"] and l["device"]["credit_until"]
        device = l["device"] and DeviceView(until and dt.date.fromisoformat(until), l["device"]["unlocked"])
        loans.append(LoanView(**{**l, "unpaid": tuple((dt.date.fromisoformat(d), owed) for d, owed in l["unpaid"]),
                                 "device": device}))
    return Snapshot(Caller(**data["caller"]), tuple(loans), data["lender"] and Lender(**data["lender"]))


def _load(raw: bytes | str) -> tuple[str, tuple[Snapshot, ...]]:
    data = json.loads(raw)
    return data["code"], tuple(_load_one(account) for account in data["accounts"])


def _key(session_id: str, code: str) -> str:
    return KEY.format(session_id=session_id.strip(), code=code.strip())


def prefetch_key(settings):
    """For the rate limiter's round trip: the Redis key of a request's session snapshot (None: not kept)."""
    if settings.ussd_snapshot_ttl <= 0:
        return None
    return lambda form: _key(form.get("sessionId", ""), form.get("serviceCode", ""))


def cached(redis, session_id: str, e164: str, code: str = "") -> tuple[Snapshot, ...] | None:
    """This session's accounts, if it has them and they are this caller's behind this code."""
    try:
        raw = redis.get(_key(session_id, code))
    except RedisError as exc:
        log.warning("USSD snapshot not read from Redis: %s", exc)
        return None
    return parse(raw, session_id, e164, code)


def parse(raw: bytes | str | None, session_id: str, e164: str, code: str = "") -> tuple[Snapshot, ...] | None:
    """The accounts read from Redis (by `cached` or in the rate limiter's round trip), if they are this
    caller's behind this code (None: read the database)."""
    if raw is None:
        return None
    try:
        kept_code, snaps = _load(raw)
    except (ValueError, KeyError, TypeError) as exc:  # written by another version: read the database
        log.warning("USSD snapshot for session %s unreadable: %s", session_id, exc)
        return None
    if kept_code != code.strip() or not snaps or any(snap.caller.phone != e164 for snap in snaps):
        return None
    return snaps


def keep(redis, session_id: str, snaps: tuple[Snapshot, ...], ttl: int, code: str = "") -> None:
    try:
        redis.set(_key(session_id, code), _dump(code.strip(), snaps), ex=ttl)
    except RedisError as exc:
        log.warning("USSD snapshot not kept in Redis: %s", exc)
