"""Monthly reports as tables, written as CSV or XLSX (openpyxl).

Every report is computed from the ledger and the message log, so running it again later for
the same month gives the same figures. Money columns are in major units (Decimal).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import or_
from sqlmodel import Session, select

from gateway.config import Settings
from gateway.models import Agent, Borrower, Installment, LedgerEntry, Loan, Message, MessageStatus
from gateway.money import from_minor
from gateway.ops import commissions as commission_rules
from gateway.ops import portfolio
from gateway.ops.commissions import month_bounds
from gateway.ops.portfolio import end_of

FORMATS = ("csv", "xlsx")


@dataclass
class Report:
    name: str
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)

    def filename(self, month: str, fmt: str) -> str:
        return f"{self.name}-{month}.{fmt}"


def _start(day: dt.date) -> dt.datetime:
    return end_of(day - dt.timedelta(days=1))


def _weeks(first: dt.date, last: dt.date) -> list[tuple[str, dt.date, dt.date]]:
    """Monday-to-Sunday weeks of the month, cut at the month's edges, then the whole month."""
    periods, day = [], first
    while day <= last:
        end = min(day + dt.timedelta(days=6 - day.weekday()), last)
        periods.append((f"week {day.isoformat()}", day, end))
        day = end + dt.timedelta(days=1)
    return periods + [(f"month {first:%Y-%m}", first, last)]


def _loan_groups(session: Session) -> dict[int, tuple]:
    names = dict(session.exec(select(Agent.id, Agent.name)).all())
    return {loan_id: (branch or "-", names.get(agent, "-"), currency) for loan_id, branch, agent, currency in session.exec(
        select(Loan.id, Borrower.branch, Borrower.onboarded_by_agent_id, Loan.currency)
        .join(Borrower, Borrower.id == Loan.borrower_id)).all()}


def collections_report(session: Session, month: str) -> Report:
    """Expected vs collected per week and for the month, by branch and agent. Recoveries: money
    from loans that were more than 90 days late or written off when the month began; the
    collection rate leaves them out (collected - recoveries) / expected."""
    first, last = month_bounds(month)
    groups = _loan_groups(session)
    end = end_of(last)
    due = session.exec(select(Installment).where(
        Installment.due_date >= first, Installment.due_date <= last,
        or_(Installment.effective_from.is_(None), Installment.effective_from < end))).all()
    paid = session.exec(select(LedgerEntry).where(
        LedgerEntry.payment_id.is_not(None), LedgerEntry.created_at >= _start(first), LedgerEntry.created_at < end)).all()
    before = first - dt.timedelta(days=1)
    bad_loans = {r.loan_id for r in portfolio.loan_arrears(session, before) if r.days_past_due > 90}
    bad_loans |= set(session.exec(select(LedgerEntry.loan_id).where(
        LedgerEntry.kind == "writeoff", LedgerEntry.created_at < _start(first))).all())

    table = defaultdict(lambda: [0, 0, 0])  # (period, branch, agent, currency) -> expected, collected, recovered
    for label, start, stop in _weeks(first, last):
        for inst in due:
            if start <= inst.due_date <= stop:
                table[(label, *groups[inst.loan_id])][0] += inst.amount_due
        for e in paid:
            if _start(start) <= e.created_at < end_of(stop):
                row = table[(label, *groups[e.loan_id])]
                row[1] += e.amount
                if e.loan_id in bad_loans:
                    row[2] += e.amount
    report = Report("collections", f"Collections and recoveries {month}",
                    ["period", "branch", "agent", "currency", "expected", "collected", "collection_rate", "recoveries"])
    order = {label: k for k, (label, _, _) in enumerate(_weeks(first, last))}
    for (label, branch, agent, cur), (expected, collected, recovered) in sorted(
            table.items(), key=lambda kv: (order[kv[0][0]], kv[0][1:])):
        report.rows.append([label, branch, agent, cur, from_minor(expected, cur), from_minor(collected, cur),
                            portfolio.ratio(collected - recovered, expected) if expected else "",
                            from_minor(recovered, cur)])
    return report


def funders_report(session: Session, month: str) -> Report:
    """Per loan: what was repaid in the month and what is still owed at its end."""
    first, last = month_bounds(month)
    repaid = defaultdict(int)
    for loan_id, amount in session.exec(select(LedgerEntry.loan_id, LedgerEntry.amount).where(
            LedgerEntry.payment_id.is_not(None), LedgerEntry.created_at >= _start(first),
            LedgerEntry.created_at < end_of(last))).all():
        repaid[loan_id] += amount
    at_end = {r.loan_id: r for r in portfolio.loan_arrears(session, last)}
    report = Report("funders", f"Monthly repayment per loan {month}",
                    ["account", "borrower", "product", "currency", "principal", "repaid_in_month",
                     "outstanding_at_month_end", "outstanding_principal", "days_past_due"])
    for loan, borrower in session.exec(select(Loan, Borrower).join(Borrower, Borrower.id == Loan.borrower_id)
                                       .where(Loan.id.in_(list(at_end))).order_by(Loan.account_ref)):
        r, cur = at_end[loan.id], loan.currency
        report.rows.append([loan.account_ref, borrower.name, loan.product, cur, from_minor(loan.principal, cur),
                            from_minor(repaid[loan.id], cur), from_minor(r.outstanding, cur),
                            from_minor(r.outstanding_principal, cur), r.days_past_due])
    return report


def commissions_report(session: Session, month: str, settings: Settings | None = None,
                       agent_id: int | None = None) -> Report:
    report = Report("commissions", f"Agent commissions {month}",
                    ["agent", "role", "rule", "account", "borrower", "currency", "base", "commission"])
    for agent in commission_rules.commissions(session, month, settings, agent_id):
        for line in agent["lines"]:
            cur = line["currency"]
            report.rows.append([agent["agent"], agent["role"], line["rule"], line["loan"], line["borrower"], cur,
                                from_minor(line["base"], cur), from_minor(line["amount"], cur)])
        for cur, total in sorted(agent["totals"].items()):
            report.rows.append([agent["agent"], agent["role"], "total", "", "", cur, "", from_minor(total, cur)])
    return report


# Message.status as gateway.workers.sms and the delivery reports set it.
SENT = {"sent", "delivered", "undelivered"}  # accepted by Africa's Talking
DELIVERED = {"delivered"}
FAILED = {"failed", "undelivered"}  # refused when sent, or not delivered in the end


def messaging_report(session: Session, month: str) -> Report:
    """SMS created in the month by template and language: sent (accepted by the provider),
    delivered, failed (refused or undelivered), unknown (the send died half-way: for review),
    cost (KES, as Africa's Talking charged it)."""
    first, last = month_bounds(month)
    table = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    for m in session.exec(select(Message).where(Message.created_at >= _start(first), Message.created_at < end_of(last))):
        row = table[(m.template, m.language)]
        status = (m.status or "").lower()
        row[0] += 1
        row[1] += status in SENT
        row[2] += status in DELIVERED
        row[3] += status in FAILED
        row[4] += status == MessageStatus.unknown
        row[5] += m.cost_minor
    report = Report("messaging", f"Messaging {month}",
                    ["template", "language", "messages", "sent", "delivered", "failed", "unknown", "cost"])
    for (template, lang), (n, sent, delivered, failed, unknown, cost) in sorted(table.items()):
        report.rows.append([template, lang, n, sent, delivered, failed, unknown, from_minor(cost, "KES")])
    return report


REPORTS = {"collections": collections_report, "funders": funders_report, "commissions": commissions_report,
           "messaging": messaging_report}


def build(session: Session, name: str, month: str, settings: Settings | None = None, **kw) -> Report:
    if name not in REPORTS:
        raise ValueError(f"report must be one of {', '.join(REPORTS)}")
    month_bounds(month)  # a clear error for a bad month
    if name == "commissions":
        return commissions_report(session, month, settings, **kw)
    return REPORTS[name](session, month)


def to_csv(report: Report) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(report.columns)
    writer.writerows(report.rows)
    return buf.getvalue().encode("utf-8")


def to_xlsx(report: Report) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = report.name[:31]
    ws.append(report.columns)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in report.rows:
        ws.append(row)
    for k, column in enumerate(report.columns, start=1):
        ws.column_dimensions[ws.cell(1, k).column_letter].width = max(12, len(column) + 2)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def render(report: Report, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    return to_csv(report) if fmt == "csv" else to_xlsx(report)
