"""Cost against recovery: what pursuing a loan in arrears has cost, what came back, and the per-product rule
that stops automated pursuit when the one outgrows the other.

Pursuit cost of a loan (minor units of the loan's currency):
- reminder SMS: what Africa's Talking charged for each (Message.cost_minor, from the send response);
- voice calls about the loan other than the welcome call: what AT charged (its final report's amount), else
  the minutes (rounded up) x CALL_COST_PER_MINUTE;
- agent calls (CallLog): the minutes (rounded up; CALL_MINUTES_PER_CALL when no duration was logged) x
  CALL_COST_PER_MINUTE, plus AGENT_COST_PER_CALL for the agent's time.

Recovered: money from payments posted to the loan (net of reversals) from the day after the first
installment that was not paid in full by its due date: since the loan went into arrears.

Expected recovery: the loan's arrears today x its product's `expected_recovery_percent` / 100.

The rule (Product.stop_pursuit_over_cost): a loan in arrears whose pursuit cost has reached its expected
recovery gets no more automated reminders (any further one would cost more than is expected back). It is
checked by the reminder planner and again where the reminder SMS leaves (sending.py), on every path. The
loan is not silently dropped: a PursuitStop row puts it on the managers' "Pursuit stopped: decide" list
(gateway/ops/pursuit.py).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import and_, exists
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from gateway import audit
from gateway.config import Settings
from gateway.db import utcnow
from gateway.models import (
    Borrower,
    CallLog,
    Installment,
    LedgerEntry,
    Loan,
    LoanStatus,
    Message,
    Product,
    PursuitStop,
    Reminder,
    VoiceCall,
)
from gateway.ops import portfolio
from gateway.ops.portfolio import end_of

KINDS = ("sms", "voice", "call")


@dataclass(frozen=True)
class CostItem:
    """One thing done to pursue a loan, and what it cost."""

    loan_id: int
    kind: str  # sms | voice | call
    at: dt.datetime
    cost: int  # minor units; for a call: minutes and agent time together
    minutes: int = 0
    agent_id: int | None = None  # the agent who called (calls only)


@dataclass
class LoanCost:
    loan_id: int
    currency: str
    sms: int = 0
    voice: int = 0
    calls: int = 0  # call minutes costed
    agent_time: int = 0
    sms_count: int = 0
    call_count: int = 0
    call_minutes: int = 0
    recovered: int = 0
    arrears: int = 0
    expected_recovery: int = 0

    @property
    def total(self) -> int:
        return self.sms + self.voice + self.calls + self.agent_time

    def add(self, item: CostItem, settings: Settings) -> None:
        if item.kind == "sms":
            self.sms += item.cost
            self.sms_count += 1
        elif item.kind == "voice":
            self.voice += item.cost
        else:
            agent = settings.agent_cost_per_call
            self.calls += item.cost - agent
            self.agent_time += agent
            self.call_count += 1
            self.call_minutes += item.minutes


def _minutes(seconds: int | None) -> int:
    return -(-seconds // 60) if seconds else 0


def _window(column, since: dt.datetime | None, until: dt.datetime | None) -> list:
    return [c for c in (column >= since if since else None, column < until if until else None) if c is not None]


def cost_items(session: Session, settings: Settings, loan_ids: list[int] | None = None,
               since: dt.datetime | None = None, until: dt.datetime | None = None) -> list[CostItem]:
    """Every costed pursuit step (of `loan_ids`, or all loans) between `since` and `until`."""
    def only(column):
        return [column.in_(loan_ids)] if loan_ids is not None else []

    items = []
    sent_at = Message.sent_at
    for loan_id, at, cost in session.exec(
            select(Reminder.loan_id, sent_at, Message.cost_minor).join(Message, Message.id == Reminder.message_id)
            .where(sent_at.is_not(None), *only(Reminder.loan_id), *_window(sent_at, since, until))).all():
        items.append(CostItem(loan_id, "sms", at, cost))
    for call in session.exec(select(VoiceCall).where(VoiceCall.loan_id.is_not(None), VoiceCall.purpose != "welcome",
                                                     VoiceCall.placed_at.is_not(None), *only(VoiceCall.loan_id),
                                                     *_window(VoiceCall.placed_at, since, until))).all():
        minutes = _minutes(call.duration_seconds)
        cost = call.cost_minor if call.cost_minor else minutes * settings.call_cost_per_minute
        items.append(CostItem(call.loan_id, "voice", call.placed_at, cost, minutes))
    for call in session.exec(select(CallLog).where(*only(CallLog.loan_id),
                                                   *_window(CallLog.created_at, since, until))).all():
        minutes = _minutes(call.duration_seconds) if call.duration_seconds is not None \
            else settings.call_minutes_per_call
        items.append(CostItem(call.loan_id, "call", call.created_at,
                              minutes * settings.call_cost_per_minute + settings.agent_cost_per_call,
                              minutes, call.agent_id))
    return items


def arrears_since(session: Session, loan_ids: list[int], today: dt.date) -> dict[int, dt.datetime]:
    """When each loan went into arrears: the end of the due date of its first installment not paid in full
    by then (and already past). Loans never in arrears are left out."""
    if not loan_ids:
        return {}
    insts = session.exec(select(Installment).where(Installment.loan_id.in_(loan_ids),
                                                   Installment.due_date < today)).all()
    paid = defaultdict(list)
    for inst_id, amount, at in session.exec(select(LedgerEntry.installment_id, LedgerEntry.amount,
                                                   LedgerEntry.created_at)
                                            .where(LedgerEntry.loan_id.in_(loan_ids),
                                                   LedgerEntry.installment_id.is_not(None))).all():
        paid[inst_id].append((at, amount))
    since: dict[int, dt.datetime] = {}
    for inst in insts:
        end = end_of(inst.due_date)
        on_time = sum(amount for at, amount in paid[inst.id] if at < end)
        if on_time < inst.amount_due and (inst.loan_id not in since or end < since[inst.loan_id]):
            since[inst.loan_id] = end
    return since


def recovered(session: Session, loan_ids: list[int], today: dt.date, since: dt.datetime | None = None,
              until: dt.datetime | None = None) -> dict[int, list[tuple[dt.datetime, int]]]:
    """Payment money (net of reversals) posted to each loan once it was in arrears, with when."""
    start = arrears_since(session, loan_ids, today)
    if not start:
        return {}
    out = defaultdict(list)
    for loan_id, at, amount in session.exec(
            select(LedgerEntry.loan_id, LedgerEntry.created_at, LedgerEntry.amount)
            .where(LedgerEntry.loan_id.in_(list(start)), LedgerEntry.payment_id.is_not(None),
                   *_window(LedgerEntry.created_at, since, until))).all():
        if at >= start[loan_id]:
            out[loan_id].append((at, amount))
    return out


def product_of(session: Session, loan: Loan) -> Product | None:
    return session.exec(select(Product).join(Borrower, Borrower.field_partner_id == Product.field_partner_id)
                        .where(Borrower.id == loan.borrower_id, Product.code == loan.product)).first()


def loan_cost(session: Session, settings: Settings, loan: Loan, today: dt.date,
              since: dt.datetime | None = None) -> LoanCost:
    """Cost against recovery of one loan (costs and recoveries since `since`, when given)."""
    result = LoanCost(loan.id, loan.currency)
    for item in cost_items(session, settings, [loan.id], since=since):
        result.add(item, settings)
    result.recovered = sum(a for _, a in recovered(session, [loan.id], today, since=since).get(loan.id, []))
    row = portfolio.arrears_of(session, loan.id, today)
    result.arrears = row.arrears if row else 0
    product = product_of(session, loan)
    percent = product.expected_recovery_percent if product else 0
    result.expected_recovery = result.arrears * percent // 100
    return result


def over_cost(figures: LoanCost) -> bool:
    """The rule: in arrears, and pursuing has already cost what is expected back."""
    return figures.arrears > 0 and figures.total > 0 and figures.total >= figures.expected_recovery


def stopped() -> object:
    """SQL: the loan (Loan.id, correlated) has its automated pursuit stopped. For the reminder planner."""
    return exists().where(and_(PursuitStop.loan_id == Loan.id, PursuitStop.status != "resumed"))


def check(session: Session, settings: Settings, loan: Loan, today: dt.date | None = None) -> bool:
    """Whether automated pursuit of `loan` is stopped: already (waiting for or after a manager's decision),
    or now, by its product's rule (recorded, audited, listed for the managers)."""
    stop = session.exec(select(PursuitStop).where(PursuitStop.loan_id == loan.id)).first()
    if stop is not None and stop.status != "resumed":
        return True
    product = product_of(session, loan)
    if product is None or not product.stop_pursuit_over_cost or loan.status != LoanStatus.active:
        return False
    today = today or utcnow().date()
    figures = loan_cost(session, settings, loan, today, since=stop.decided_at if stop else None)
    if not over_cost(figures):
        return False
    if stop is None:
        stop = PursuitStop(loan_id=loan.id)
    stop.status, stop.stopped_at, stop.decision, stop.note = "open", utcnow(), "", ""
    stop.cost, stop.expected_recovery, stop.arrears = figures.total, figures.expected_recovery, figures.arrears
    try:
        with session.begin_nested():  # the planner and a send job may stop the same loan at once
            session.add(stop)
            session.flush()
    except IntegrityError:
        return True
    audit.record(session, "system", "pursuit.stopped", "loan", loan.id, cost=figures.total,
                 expected_recovery=figures.expected_recovery, arrears=figures.arrears, currency=loan.currency)
    return True


def review(session: Session, settings: Settings, today: dt.date | None = None) -> int:
    """Apply the rule to every active loan in arrears whose product has it (before the planner plans), in a
    few set queries; each loan found over is checked and stopped one by one. Returns how many were stopped."""
    today = today or utcnow().date()
    rows = session.exec(select(Loan, Product.expected_recovery_percent)
                        .join(Borrower, Borrower.id == Loan.borrower_id)
                        .join(Product, and_(Product.field_partner_id == Borrower.field_partner_id,
                                            Product.code == Loan.product))
                        .where(Product.stop_pursuit_over_cost == True, Loan.status == LoanStatus.active,  # noqa: E712
                               ~stopped())).all()
    if not rows:
        return 0
    late = {r.loan_id: r.arrears for r in portfolio.loan_arrears(session, today, [loan.id for loan, _ in rows])
            if r.arrears > 0}
    if not late:
        return 0
    resumed = dict(session.exec(select(PursuitStop.loan_id, PursuitStop.decided_at)
                                .where(PursuitStop.loan_id.in_(list(late)))).all())  # only resumed ones are left
    spent = defaultdict(int)
    for item in cost_items(session, settings, list(late)):
        if resumed.get(item.loan_id) is None or item.at >= resumed[item.loan_id]:
            spent[item.loan_id] += item.cost
    over = [loan for loan, percent in rows
            if loan.id in late and spent[loan.id] > 0 and spent[loan.id] >= late[loan.id] * percent // 100]
    return sum(check(session, settings, loan, today) for loan in over)


def reminder_stopped(session: Session, settings: Settings, message: Message) -> bool:
    """For the SMS sender: the reminder this message is belongs to a loan whose pursuit is stopped."""
    loan_id = session.exec(select(Reminder.loan_id).where(Reminder.message_id == message.id)).first()
    loan = session.get(Loan, loan_id) if loan_id else None
    return loan is not None and check(session, settings, loan)
