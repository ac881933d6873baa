"""Notifications that come from the clock rather than from one event: the daily collections
summary (at each endpoint's local hour) and failure alerts (callbacks or SMS failing above the
endpoint's threshold in the last hour). Run by RQ cron every few minutes; each is stored once per
endpoint and day (or hour) by its dedupe key, so running it again changes nothing."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, select

from gateway.config import Settings
from gateway.db import utcnow
from gateway.models import (
    Borrower,
    CallbackStatus,
    FieldPartner,
    Installment,
    LedgerEntry,
    Loan,
    Message,
    MessageStatus,
    Payment,
    Promise,
    RawCallback,
    WebhookEndpoint,
)
from gateway.notify.events import store
from gateway.ops import portfolio
from gateway.ops.portfolio import end_of


def _partner_loans(partner_id: int):
    return (select(Loan.id).join(Borrower, Borrower.id == Loan.borrower_id)
            .where(Borrower.field_partner_id == partner_id))


def _par(session: Session, partner_id: int, day: dt.date) -> dict[str, dict]:
    rows = portfolio.loan_arrears(session, day, lenders=(partner_id,))
    return {row["currency"]: row for row in portfolio.par_table(rows)}


def daily_summary(session: Session, partner_id: int, today: dt.date) -> dict:
    """Yesterday's collections, the month's collection rate to yesterday, PAR1/PAR30 at the end of
    yesterday and their change from the day before, and promises due today; per currency."""
    yesterday = today - dt.timedelta(days=1)
    loans = _partner_loans(partner_id)
    collected = dict(session.exec(
        select(Loan.currency, func.sum(LedgerEntry.amount)).join(Loan, Loan.id == LedgerEntry.loan_id)
        .where(LedgerEntry.loan_id.in_(loans), LedgerEntry.payment_id.is_not(None),
               LedgerEntry.created_at >= end_of(yesterday - dt.timedelta(days=1)),
               LedgerEntry.created_at < end_of(yesterday))
        .group_by(Loan.currency)).all())
    due, paid = defaultdict(int), defaultdict(int)
    month_installments = session.exec(
        select(Installment, Loan.currency).join(Loan, Loan.id == Installment.loan_id)
        .where(Installment.loan_id.in_(loans), Installment.due_date >= yesterday.replace(day=1),
               Installment.due_date <= yesterday)).all()
    ids = {i.id: cur for i, cur in month_installments}
    for inst, cur in month_installments:
        due[cur] += inst.amount_due
    if ids:
        for iid, amount in session.exec(
                select(LedgerEntry.installment_id, func.sum(LedgerEntry.amount))
                .where(LedgerEntry.installment_id.in_(list(ids)), LedgerEntry.payment_id.is_not(None),
                       LedgerEntry.created_at < end_of(yesterday))
                .group_by(LedgerEntry.installment_id)).all():
            paid[ids[iid]] += int(amount)
    promises = defaultdict(lambda: [0, 0])
    for cur, amount in session.exec(select(Promise.currency, Promise.amount).where(
            Promise.loan_id.in_(loans), Promise.promised_date == today, Promise.status == "open")).all():
        promises[cur][0] += 1
        promises[cur][1] += amount
    par_now, par_before = _par(session, partner_id, yesterday), _par(session, partner_id, yesterday - dt.timedelta(1))
    currencies = sorted(set(collected) | set(due) | set(promises) | set(par_now))
    zero = {"par1": 0, "par30": 0}
    return {"date": today.isoformat(), "currencies": [{
        "currency": cur, "collected": int(collected.get(cur) or 0),
        "collection_rate": str(portfolio.ratio(paid[cur], due[cur])),
        **{f"par{n}": str(par_now.get(cur, zero)[f"par{n}"]) for n in (1, 30)},
        **{f"par{n}_change": str(par_now.get(cur, zero)[f"par{n}"] - par_before.get(cur, zero)[f"par{n}"])
           for n in (1, 30)},
        "promises": promises[cur][0], "promised": promises[cur][1]} for cur in currencies]}


def failure_counts(session: Session, since: dt.datetime, partner_id: int | None = None) -> dict[str, int]:
    """Payment callbacks that failed or were refused, and SMS the provider failed, since `since`: those
    of `partner_id`'s borrowers and payments (None: all). A callback refused before any payment was
    made of it belongs to no lender: it is counted only for None (a gateway with a single lender)."""
    callbacks = select(func.count()).select_from(RawCallback).where(
        RawCallback.received_at >= since, RawCallback.status.in_([CallbackStatus.failed, CallbackStatus.rejected]))
    sms = select(func.count()).select_from(Message).where(
        Message.created_at >= since, Message.status.in_([MessageStatus.failed, MessageStatus.retrying]))
    if partner_id is not None:
        callbacks = callbacks.join(Payment, Payment.id == RawCallback.payment_id).where(
            Payment.loan_id.in_(_partner_loans(partner_id)))
        sms = sms.join(Borrower, Borrower.id == Message.borrower_id).where(Borrower.field_partner_id == partner_id)
    return {"callbacks": int(session.exec(callbacks).one()), "sms": int(session.exec(sms).one())}


def tick(session: Session, settings: Settings, now: dt.datetime | None = None) -> int:
    """Store the daily summaries whose hour has come (in each lender's timezone) and the failure alerts
    over threshold (each lender counts its own failures)."""
    now = now or utcnow()
    made = 0
    endpoints = list(session.exec(select(WebhookEndpoint).where(WebhookEndpoint.active)))
    zones = dict(session.exec(select(FieldPartner.id, FieldPartner.timezone)).all())
    single = len(zones) <= 1  # one lender: every failure is its own, even one no lender can be told from

    def local_of(partner: int) -> dt.datetime:
        return now.astimezone(ZoneInfo(zones.get(partner) or settings.default_timezone))

    for partner in sorted({e.field_partner_id for e in endpoints if "daily_summary" in e.events}):
        local = local_of(partner)
        if not any(e.field_partner_id == partner and "daily_summary" in e.events and local.hour >= e.daily_hour
                   for e in endpoints):
            continue
        summary = daily_summary(session, partner, local.date())
        made += len(store(session, partner, "daily_summary", local.date().isoformat(), summary,
                          only=lambda e, hour=local.hour: hour >= e.daily_hour))
    if any("failures" in e.events for e in endpoints):
        for partner in sorted({e.field_partner_id for e in endpoints if "failures" in e.events}):
            counts = failure_counts(session, now - dt.timedelta(hours=1), None if single else partner)
            hour = local_of(partner).strftime("%Y-%m-%dT%H")
            for source, count in counts.items():
                made += len(store(session, partner, "failures", f"{source}:{hour}",
                                  {"source": source, "count": count, "hour": hour},
                                  only=lambda e, c=count: c >= e.failure_threshold))
    return made
