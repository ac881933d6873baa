"""Commission statements and their payout: the monthly commissions (gateway.ops.commissions) become
one statement per agent and currency, with its lines; a manager approves it or returns it with a
note; approved statements are exported for Finance as an M-Pesa bulk (B2C) payment file, which
marks them paid, once (CommissionPayout is unique per statement). Everything is audited."""
from __future__ import annotations

import csv
import io

from openpyxl import Workbook
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, delete, select

from gateway import audit
from gateway.config import Settings
from gateway.db import utcnow
from gateway.models import Agent, CommissionPayout, CommissionStatement, StatementLine, StatementStatus
from gateway.money import from_minor, to_minor
from gateway.ops.commissions import commissions, month_bounds
from gateway.web.roles import MANAGERS

S = StatementStatus
# The M-Pesa bulk payment (B2C) layout: one row per payee. See README "Commission approval and payout".
B2C_COLUMNS = ["ReceiverParty", "Amount", "CommandID", "Name", "Remarks", "Occasion"]
COMMAND_ID = "BusinessPayment"


class PayoutError(ValueError):
    pass


class NotAllowed(PermissionError):
    pass


class NotFound(LookupError):
    pass


class StatementConflict(PayoutError):
    """The statement is not in a state that allows this (already decided, already paid)."""


def generate(session: Session, month: str, settings: Settings, actor: str) -> list[CommissionStatement]:
    """Make (or remake) the month's statements from the commissions. Pending and returned statements are
    rebuilt from today's figures; approved and paid ones are never touched."""
    month_bounds(month)  # validates
    out = []
    for agent in commissions(session, month, settings):
        for currency, total in agent["totals"].items():
            st = session.exec(select(CommissionStatement).where(
                CommissionStatement.agent_id == agent["agent_id"], CommissionStatement.month == month,
                CommissionStatement.currency == currency)).first()
            if st is not None and st.status in (S.approved, S.paid):
                out.append(st)
                continue
            st = st or CommissionStatement(agent_id=agent["agent_id"], month=month, currency=currency)
            st.total, st.payable = total, to_minor(int(from_minor(total, currency)), currency)
            st.status = S.pending
            session.add(st)
            session.flush()
            session.exec(delete(StatementLine).where(StatementLine.statement_id == st.id))
            for line in agent["lines"]:
                if line["currency"] == currency:
                    session.add(StatementLine(statement_id=st.id, rule=line["rule"], loan=line["loan"],
                                              borrower=line["borrower"], base=line["base"], amount=line["amount"]))
            audit.record(session, actor, "commission_statement.generated", "commission_statement", st.id,
                         agent_id=st.agent_id, month=month, currency=currency, total=total)
            out.append(st)
    return out


def visible(session: Session, viewer: Agent, month: str | None = None, status: str | None = None) -> list[dict]:
    """Statements `viewer` may see: managers and admins all, anyone else only their own."""
    query = select(CommissionStatement, Agent).join(Agent, Agent.id == CommissionStatement.agent_id)
    if viewer.role not in MANAGERS:
        query = query.where(CommissionStatement.agent_id == viewer.id)
    if month:
        month_bounds(month)
        query = query.where(CommissionStatement.month == month)
    if status:
        if status not in set(S):
            raise PayoutError(f"status must be one of {', '.join(S)}")
        query = query.where(CommissionStatement.status == status)
    rows = session.exec(query.order_by(CommissionStatement.month.desc(), Agent.name, CommissionStatement.id)).all()
    return [as_dict(session, st, agent) for st, agent in rows]


def as_dict(session: Session, st: CommissionStatement, agent: Agent | None = None) -> dict:
    agent = agent or session.get(Agent, st.agent_id)
    lines = session.exec(select(StatementLine).where(StatementLine.statement_id == st.id)
                         .order_by(StatementLine.rule, StatementLine.loan)).all()
    return {"id": st.id, "agent_id": st.agent_id, "agent": agent.name, "month": st.month, "currency": st.currency,
            "total": st.total, "payable": st.payable, "status": st.status, "note": st.note,
            "decided_by": st.decided_by, "decided_at": st.decided_at,
            "lines": [{"rule": x.rule, "loan": x.loan, "borrower": x.borrower, "base": x.base, "amount": x.amount}
                      for x in lines]}


def _get(session: Session, statement_id: int) -> CommissionStatement:
    st = session.exec(select(CommissionStatement).where(CommissionStatement.id == statement_id)
                      .with_for_update()).first()
    if st is None:
        raise NotFound(f"no statement {statement_id}")
    return st


def _decide(session: Session, statement_id: int, manager: Agent, status: S, note: str = "") -> CommissionStatement:
    if manager.role not in MANAGERS:
        raise NotAllowed("only a manager or an admin decides on statements")
    st = _get(session, statement_id)
    if st.agent_id == manager.id:
        raise NotAllowed("nobody approves their own statement")
    if st.status != S.pending:
        raise StatementConflict(f"statement {statement_id} is {st.status}, not pending")
    st.status, st.note, st.decided_by, st.decided_at = status, note, f"agent:{manager.id}", utcnow()
    session.add(st)
    audit.record(session, f"agent:{manager.id}", f"commission_statement.{status}", "commission_statement", st.id,
                 agent_id=st.agent_id, month=st.month, total=st.total, note=note)
    return st


def approve(session: Session, statement_id: int, manager: Agent) -> CommissionStatement:
    return _decide(session, statement_id, manager, S.approved)


def send_back(session: Session, statement_id: int, manager: Agent, note: str) -> CommissionStatement:
    note = (note or "").strip()
    if not note:
        raise PayoutError("say why the statement goes back (a note)")
    return _decide(session, statement_id, manager, S.returned, note[:500])


def pay(session: Session, actor: str, currency: str = "KES", month: str | None = None) -> str:
    """Mark every approved statement (of `month`, in `currency`) paid in one new batch; returns the batch
    id. A statement already paid cannot be paid again: the unique CommissionPayout row refuses it."""
    query = select(CommissionStatement).where(CommissionStatement.status == S.approved,
                                              CommissionStatement.currency == currency)
    if month:
        month_bounds(month)
        query = query.where(CommissionStatement.month == month)
    statements = session.exec(query.order_by(CommissionStatement.id).with_for_update()).all()
    if not statements:
        raise PayoutError("no approved statement to pay")
    batch = f"PAY-{utcnow():%Y%m%d%H%M%S}-{statements[0].id}"  # unique: that statement is paid only once
    try:
        with session.begin_nested():
            for st in statements:
                agent = session.get(Agent, st.agent_id)
                session.add(CommissionPayout(statement_id=st.id, batch=batch, phone=agent.phone, amount=st.payable,
                                             exported_by=actor))
                st.status = S.paid
                session.add(st)
            session.flush()
    except IntegrityError:
        raise StatementConflict("a statement in this batch was already paid") from None
    for st in statements:
        audit.record(session, actor, "commission_statement.paid", "commission_statement", st.id,
                     batch=batch, amount=st.payable, currency=st.currency)
    return batch


def batch_rows(session: Session, batch: str) -> list[dict]:
    rows = session.exec(select(CommissionPayout, CommissionStatement, Agent)
                        .join(CommissionStatement, CommissionStatement.id == CommissionPayout.statement_id)
                        .join(Agent, Agent.id == CommissionStatement.agent_id)
                        .where(CommissionPayout.batch == batch).order_by(CommissionPayout.id)).all()
    if not rows:
        raise NotFound(f"no payout batch {batch}")
    return [{"ReceiverParty": p.phone.lstrip("+"), "Amount": str(int(from_minor(p.amount, st.currency))),
             "CommandID": COMMAND_ID, "Name": agent.name[:100],
             "Remarks": f"Commission {st.month}"[:100], "Occasion": f"statement {st.id}"}
            for p, st, agent in rows]


def render(rows: list[dict], fmt: str) -> bytes:
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=B2C_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue().encode()
    if fmt == "xlsx":
        wb = Workbook()
        ws = wb.active
        ws.title = "B2C payout"
        ws.append(B2C_COLUMNS)
        for r in rows:
            ws.append([r[c] if c != "Amount" else int(r[c]) for c in B2C_COLUMNS])
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()
    raise PayoutError("format must be csv or xlsx")
