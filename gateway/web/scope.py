"""What a staff member may see: their own lender's data; the platform role sees every lender.

Every staff route (API, console page, report, export) narrows its queries with `lender_ids()` or
checks one record with `own()`: another lender's record is a 404, never data and never a 403 (a 403
would say the record exists)."""
from __future__ import annotations

from flask import abort, g
from sqlalchemy import func
from sqlmodel import Session, select

from gateway.models import (
    Agent,
    Borrower,
    CallbackRequest,
    CommissionStatement,
    FieldPartner,
    Flag,
    Loan,
    Message,
    Payment,
    RawCallback,
    WebhookEndpoint,
)
from gateway.web.roles import Role


def current_staff() -> Agent:
    """The staff member of this request: API token (g.agent) or console session (g.operator)."""
    staff = getattr(g, "agent", None) or getattr(g, "operator", None)
    if staff is None:  # a route that forgot its auth decorator: fail closed
        abort(404)
    return staff


def lender_ids(staff: Agent | None = None) -> tuple[int, ...] | None:
    """The lenders this staff member sees; None: all of them (platform role)."""
    staff = staff or current_staff()
    return None if staff.role == Role.PLATFORM else (staff.field_partner_id,)


def sees(partner_id: int | None, staff: Agent | None = None) -> bool:
    ids = lender_ids(staff)
    return ids is None or partner_id in ids


def own(partner_id: int | None, staff: Agent | None = None) -> None:
    """404 unless the record's lender is one this staff member sees."""
    if partner_id is None or not sees(partner_id, staff):
        abort(404)


def narrow(query, partner_column, staff: Agent | None = None):
    """`query` limited to the staff member's lenders (`partner_column` e.g. Borrower.field_partner_id)."""
    ids = lender_ids(staff)
    return query if ids is None else query.where(partner_column.in_(ids))


def lenders(session: Session, staff: Agent | None = None) -> tuple[int, ...] | None:
    """What a view narrows its queries by: `lender_ids()`, except None (nothing to narrow) while the
    database holds a single lender, whose every row (even one no lender can be told from) is its own."""
    ids = lender_ids(staff)
    if ids is None or session.exec(select(func.count(FieldPartner.id))).one() <= 1:
        return None
    return ids


def lender_of(session: Session, model, record_id) -> int | None:
    """The lender of one record (None: no such record, or no lender can be told from it)."""
    if model is Borrower:
        return session.exec(select(Borrower.field_partner_id).where(Borrower.id == record_id)).first()
    if model is Loan:
        return session.exec(select(Borrower.field_partner_id).join(Loan, Loan.borrower_id == Borrower.id)
                            .where(Loan.id == record_id)).first()
    if model is Flag:
        flag = session.get(Flag, record_id)
        if flag is None:
            return None
        return lender_of(session, Loan, flag.loan_id) if flag.loan_id else \
            lender_of(session, Borrower, flag.borrower_id) if flag.borrower_id else \
            lender_of(session, Payment, flag.payment_id) if flag.payment_id else None
    if model is Payment:  # the lender whose paybill it was paid to (even in suspense), else its loan's
        row = session.exec(select(Payment.field_partner_id, Payment.loan_id).where(Payment.id == record_id)).first()
        if row is None:
            return None
        return row[0] if row[0] is not None else lender_of(session, Loan, row[1]) if row[1] else None
    if model in (Message, CallbackRequest):
        borrower_id = session.exec(select(model.borrower_id).where(model.id == record_id)).first()
        return lender_of(session, Borrower, borrower_id) if borrower_id else None
    if model is CommissionStatement:
        return session.exec(select(Agent.field_partner_id).join(CommissionStatement,
                                                                CommissionStatement.agent_id == Agent.id)
                            .where(CommissionStatement.id == record_id)).first()
    if model is RawCallback:
        payment_id = session.exec(select(RawCallback.payment_id).where(RawCallback.id == record_id)).first()
        return lender_of(session, Payment, payment_id) if payment_id else None
    if model in (Agent, WebhookEndpoint):
        return session.exec(select(model.field_partner_id).where(model.id == record_id)).first()
    raise TypeError(f"no lender rule for {model.__name__}")


def guard(session: Session, model, record_id, staff: Agent | None = None) -> None:
    """404 when the record exists but belongs to a lender this staff member does not see (or to no
    lender, with several lenders and no platform role). A record that does not exist is left to the
    view's own answer."""
    ids = lenders(session, staff)
    if ids is None or session.get(model, record_id) is None:
        return
    if lender_of(session, model, record_id) not in ids:
        abort(404)


class NoSuchLender(ValueError):
    pass


def cli_lenders(session: Session, name: str | None) -> tuple[int, ...] | None:
    """What a CLI command shows: `--partner NAME` (any case); required once the database holds several
    lenders (NoSuchLender lists them), optional with one (None: nothing to narrow)."""
    partners = session.exec(select(FieldPartner.id, FieldPartner.name).order_by(FieldPartner.name)).all()
    names = ", ".join(n for _, n in partners) or "none yet"
    if name:
        found = [pid for pid, n in partners if n.casefold() == name.strip().casefold()]
        if not found:
            raise NoSuchLender(f"no lender named {name!r} (lenders: {names})")
        return tuple(found)
    if len(partners) > 1:
        raise NoSuchLender(f"say which lender with --partner NAME (lenders: {names})")
    return None


def guard_account(session: Session, account_ref: str, staff: Agent | None = None) -> None:
    """404 when the account number is another lender's loan (a payment is never put on it by us)."""
    from gateway.borrowers.accounts import normalize_account_ref

    ref = normalize_account_ref(account_ref or "")
    loan_id = session.exec(select(Loan.id).where(Loan.account_ref == ref)).first() if ref else None
    if loan_id is not None:
        guard(session, Loan, loan_id, staff)
