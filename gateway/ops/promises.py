"""Promises to pay: made over USSD, by a call-centre agent or in the console.

While a promise is open, reminders for the loan wait (the reminders planner asks
`has_open_promise` / `loans_with_open_promise`). Once the promised date has passed,
`evaluate_due` decides kept or broken from the ledger: money posted between the promise and the
end of its date must reach the promised amount.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func
from sqlmodel import Session, select

from gateway import audit
from gateway.db import utcnow
from gateway.i18n import Speaker
from gateway.models import Borrower, LedgerEntry, Loan, LoanStatus, Promise
from gateway.ops.portfolio import end_of

SOURCES = ("ussd", "call", "console")
MAX_DAYS_AHEAD = 7  # a borrower can promise up to a week ahead


class PromiseError(ValueError):
    pass


def make_promise(session: Session, loan: Loan, date: dt.date, amount: int, source: str, *,
                 agent_id: int | None = None, actor: str | None = None, today: dt.date | None = None) -> Promise:
    """Record a promise to pay `amount` (minor units) by `date`. A newer promise replaces an open
    older one for the same loan."""
    if source not in SOURCES:
        raise PromiseError(f"source must be one of {SOURCES}")
    if loan.status not in (LoanStatus.active, LoanStatus.defaulted):
        raise PromiseError(f"loan {loan.account_ref} is {loan.status}")
    if not isinstance(amount, int) or amount <= 0:
        raise PromiseError("the promised amount must be positive")
    if today is None:
        today = Speaker.for_borrower(session.get(Borrower, loan.borrower_id)).today()
    if not today <= date <= today + dt.timedelta(days=MAX_DAYS_AHEAD):
        raise PromiseError(f"the date must be within the next {MAX_DAYS_AHEAD} days")
    for older in session.exec(select(Promise).where(Promise.loan_id == loan.id, Promise.status == "open")):
        older.status = "replaced"
        session.add(older)
    promise = Promise(loan_id=loan.id, promised_date=date, amount=amount, currency=loan.currency,
                      source=source, agent_id=agent_id)
    session.add(promise)
    session.flush()
    audit.record(session, actor or (f"agent:{agent_id}" if agent_id else f"loan:{loan.id}"), "promise.made",
                 "promise", promise.id, loan_id=loan.id, date=date.isoformat(), amount=amount, source=source)
    return promise


def has_open_promise(session: Session, loan_id: int, on_date: dt.date) -> bool:
    """True while a promise for the loan is open and its date is not past: no reminders then."""
    return session.exec(select(Promise.id).where(Promise.loan_id == loan_id, Promise.status == "open",
                                                 Promise.promised_date >= on_date)).first() is not None


def loans_with_open_promise(session: Session, on_date: dt.date) -> set[int]:
    """The same question for the whole book, in one query (for the reminders planner)."""
    return set(session.exec(select(Promise.loan_id).where(Promise.status == "open",
                                                          Promise.promised_date >= on_date)).all())


def paid_towards(session: Session, promise: Promise) -> int:
    paid = session.exec(select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.loan_id == promise.loan_id, LedgerEntry.payment_id.is_not(None),
        LedgerEntry.created_at >= promise.created_at, LedgerEntry.created_at < end_of(promise.promised_date))).one()
    return int(paid)


def evaluate_due(session: Session, today: dt.date) -> list[Promise]:
    """Mark open promises whose date is before `today` kept or broken. Safe to run twice."""
    done = []
    for promise in session.exec(select(Promise).where(Promise.status == "open", Promise.promised_date < today)):
        promise.paid_amount = paid_towards(session, promise)
        promise.status = "kept" if promise.paid_amount >= promise.amount else "broken"
        promise.evaluated_at = utcnow()
        session.add(promise)
        audit.record(session, "system", f"promise.{promise.status}", "promise", promise.id,
                     loan_id=promise.loan_id, amount=promise.amount, paid=promise.paid_amount)
        done.append(promise)
    session.flush()
    return done
