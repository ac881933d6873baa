"""The loan ledger: allocating payments to installments, and reading balances back.

A payment goes to the oldest unpaid installment first; within an installment fees, then
interest, then principal; whatever is left is kept as credit on the loan. Every allocation is
a LedgerEntry, so the ledger always balances: the entries of a payment sum to its amount.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, select

from gateway import audit, signals
from gateway.db import utcnow
from gateway.models import (
    Installment,
    InstallmentStatus,
    LedgerEntry,
    Loan,
    LoanStatus,
    Payment,
    PaymentStatus,
)
from gateway.models.loans import COMPONENTS


class LedgerError(Exception):
    pass


def locked_loan(session: Session, loan_id: int) -> Loan:
    # Row lock on PostgreSQL; SQLite already serialises writers (BEGIN IMMEDIATE).
    loan = session.exec(select(Loan).where(Loan.id == loan_id).with_for_update()).one()
    return loan


def installments(session: Session, loan_id: int) -> list[Installment]:
    return list(session.exec(
        select(Installment).where(Installment.loan_id == loan_id).order_by(Installment.due_date, Installment.seq)
    ))


def installment_status(inst: Installment) -> str:
    if inst.outstanding <= 0:
        return InstallmentStatus.paid
    return InstallmentStatus.partial if inst.amount_paid > 0 else InstallmentStatus.pending


def spread(insts, amount: int) -> tuple[list[tuple[object, str, int]], int]:
    """The allocation rule on its own: `amount` over `insts` (oldest first; anything with the
    Installment amounts), fees then interest then principal within each. Changes their *_paid and
    status; returns (installment, component, amount taken) in order and what is left as credit.
    `allocate` and the portfolio import (paid to date) both use it, so both allocate alike."""
    left = amount
    taken: list[tuple[object, str, int]] = []
    for inst in insts:
        for component in COMPONENTS:
            take = min(left, inst.component_outstanding(component))
            if take <= 0:
                continue
            setattr(inst, f"{component}_paid", getattr(inst, f"{component}_paid") + take)
            taken.append((inst, component, take))
            left -= take
        inst.status = installment_status(inst)
        if left == 0:
            break
    return taken, left


def allocate(session: Session, loan: Loan, amount: int, payment_id: int | None,
             kind: str = "allocation") -> list[LedgerEntry]:
    """Spread `amount` over the loan's unpaid installments, oldest first; rest is credit."""
    if amount <= 0:
        raise LedgerError("only a positive amount can be allocated")
    insts = installments(session, loan.id)
    taken, left = spread(insts, amount)
    session.add_all(insts)
    entries = [LedgerEntry(loan_id=loan.id, payment_id=payment_id, installment_id=inst.id, component=component,
                           amount=take, kind=kind) for inst, component, take in taken]
    if left:
        entries.append(LedgerEntry(loan_id=loan.id, payment_id=payment_id, component="credit", amount=left, kind=kind))
    if sum(e.amount for e in entries) != amount:  # the invariant, checked where it is made
        raise LedgerError("allocation does not balance")
    session.add_all(entries)
    if all(i.status == InstallmentStatus.paid for i in insts) and loan.status == LoanStatus.active:
        loan.status = LoanStatus.repaid
        session.add(loan)
        signals.loan_repaid.send(loan, session=session)
    return entries


def post_payment(session: Session, payment: Payment, loan_id: int, actor: str = "system") -> list[LedgerEntry]:
    """Allocate a stored, unposted payment to a loan. Call inside the transaction that owns it."""
    if payment.status == PaymentStatus.posted:
        raise LedgerError(f"payment {payment.id} is already posted")
    loan = locked_loan(session, loan_id)
    if payment.currency != loan.currency:
        raise LedgerError(f"payment in {payment.currency} cannot go to a {loan.currency} loan")
    entries = allocate(session, loan, payment.amount, payment.id)
    payment.loan_id = loan.id
    payment.status = PaymentStatus.posted
    payment.posted_at = utcnow()
    session.add(payment)
    audit.record(session, actor, "payment.posted", "payment", payment.id, loan_id=loan.id,
                 amount=payment.amount, currency=payment.currency,
                 allocations=[[e.component, e.installment_id, e.amount] for e in entries])
    session.flush()
    signals.payment_posted.send(payment, session=session, entries=entries)
    return entries


def reverse_payment(session: Session, payment: Payment, actor: str, reason: str) -> list[LedgerEntry]:
    """Unwind a posted payment: one compensating entry (kind `reversal`, opposite sign) per
    original entry, and the installments' paid amounts put back. Nothing is deleted, so the
    ledger shows both the payment and its reversal; afterwards the payment's entries sum to zero.
    A payment that was never posted (received, suspense) is just marked reversed."""
    if payment.status in (PaymentStatus.reversed, PaymentStatus.refunded):
        raise LedgerError(f"payment {payment.id} is already {payment.status}")
    compensating: list[LedgerEntry] = []
    if payment.status == PaymentStatus.posted:
        loan = locked_loan(session, payment.loan_id)
        originals = session.exec(select(LedgerEntry).where(
            LedgerEntry.payment_id == payment.id).order_by(LedgerEntry.id)).all()
        for entry in originals:
            if entry.installment_id is not None and entry.component in COMPONENTS:
                inst = session.get(Installment, entry.installment_id)
                setattr(inst, f"{entry.component}_paid", getattr(inst, f"{entry.component}_paid") - entry.amount)
                inst.status = installment_status(inst)
                session.add(inst)
            compensating.append(LedgerEntry(loan_id=entry.loan_id, payment_id=payment.id,
                                            installment_id=entry.installment_id, component=entry.component,
                                            amount=-entry.amount, kind="reversal"))
        if sum(e.amount for e in originals) + sum(e.amount for e in compensating) != 0:
            raise LedgerError("reversal does not balance")
        session.add_all(compensating)
        if loan.status == LoanStatus.repaid and any(i.outstanding > 0 for i in installments(session, loan.id)):
            loan.status = LoanStatus.active
            session.add(loan)
    previous = payment.status
    payment.status = PaymentStatus.reversed
    payment.note = reason[:200]
    session.add(payment)
    audit.record(session, actor, "payment.reversed", "payment", payment.id, loan_id=payment.loan_id,
                 amount=payment.amount, currency=payment.currency, previous_status=previous, reason=reason,
                 entries=[[e.component, e.installment_id, e.amount] for e in compensating])
    session.flush()
    signals.payment_reversed.send(payment, session=session, entries=compensating, previous_status=previous)
    return compensating


@dataclass(frozen=True)
class Balance:
    currency: str
    outstanding: int  # everything still owed on the schedule
    arrears: int  # owed on installments already past due
    credit: int  # overpayment kept on the loan
    next_due_date: dt.date | None  # the next unpaid installment due today or later (never a past date)
    next_due_amount: int  # what is left to pay on that installment
    overdue_since: dt.date | None = None  # due date of the oldest unpaid installment past due
    due_today: int = 0  # owed on installments due today (not yet arrears)

    @property
    def net_outstanding(self) -> int:
        return max(self.outstanding - self.credit, 0)

    def days_late(self, today: dt.date) -> int:
        """How late the loan is: days since the oldest unpaid installment fell due."""
        return (today - self.overdue_since).days if self.overdue_since else 0


# What is still owed on an installment, as SQL (the same sum as `Installment.outstanding`).
UNPAID = (Installment.principal_due + Installment.interest_due + Installment.fees_due
          - Installment.principal_paid - Installment.interest_paid - Installment.fees_paid)


def credit_of(loan_id_column):
    """The credit kept on a loan, as a scalar subquery correlated to `loan_id_column`."""
    return (select(func.coalesce(func.sum(LedgerEntry.amount), 0))
            .where(LedgerEntry.loan_id == loan_id_column, LedgerEntry.component == "credit").scalar_subquery())


def balance_of(currency: str, credit: int, unpaid: list[tuple[dt.date, int]], today: dt.date) -> Balance:
    """The balance from the loan's credit and its unpaid installments, as (due date, still owed),
    oldest first. The one place the balance rules live: `balance` and the USSD menu use it."""
    late = [(due, owed) for due, owed in unpaid if due < today]
    nxt = next(((due, owed) for due, owed in unpaid if due >= today), None)
    return Balance(
        currency=currency,
        outstanding=sum(owed for _, owed in unpaid),
        arrears=sum(owed for _, owed in late),
        credit=int(credit),
        next_due_date=nxt[0] if nxt else None,
        next_due_amount=nxt[1] if nxt else 0,
        overdue_since=late[0][0] if late else None,
        due_today=sum(owed for due, owed in unpaid if due == today),
    )


def balance(session: Session, loan: Loan, today: dt.date) -> Balance:
    # Credit and unpaid installments in one statement, plain rows (no ORM objects).
    rows = session.execute(
        select(credit_of(Loan.id), Installment.due_date, UNPAID).select_from(Loan)
        .outerjoin(Installment, (Installment.loan_id == Loan.id) & (UNPAID > 0))
        .where(Loan.id == loan.id).order_by(Installment.due_date, Installment.seq)).all()
    credit = rows[0][0] if rows else 0
    return balance_of(loan.currency, credit, [(due, owed) for _, due, owed in rows if due is not None], today)


def recent_payments(session: Session, loan_id: int, limit: int = 3) -> list[Payment]:
    return list(session.exec(
        select(Payment).where(Payment.loan_id == loan_id, Payment.status == PaymentStatus.posted)
        .order_by(func.coalesce(Payment.paid_at, Payment.received_at).desc(), Payment.id.desc()).limit(limit)
    ))
