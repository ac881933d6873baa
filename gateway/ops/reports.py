"""Monthly reports as tables, written as CSV or XLSX (openpyxl).

Every report is computed from the ledger and the message log, so running it again later for
the same month gives the same figures. Money columns are in major units (Decimal). A report of
the month not yet over is "month to date": its figures (arrears, days past due, outstanding) are
as of the day it is pulled, and its title says so.

Collection rate: what was collected in the period over what fell due in it. "Excluding
recoveries" leaves out money from loans already more than 90 days late or written off when the
month began; "including recoveries" counts all money in. Both are shown, labelled. A rate over
100 % means borrowers also paid arrears from earlier periods.

CSV keeps machine-readable column names; XLSX has the staff member's language for headers, money and
percent number formats, a frozen header row and columns wide enough for their contents.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import or_
from sqlmodel import Session, select

from gateway.config import Settings
from gateway.i18n import N_, Speaker
from gateway.models import Agent, Borrower, FieldPartner, Installment, LedgerEntry, Loan, Message, MessageStatus
from gateway.money import from_minor
from gateway.ops import commissions as commission_rules
from gateway.ops import cost_report, portfolio
from gateway.ops.commissions import month_bounds
from gateway.ops.portfolio import end_of

FORMATS = ("csv", "xlsx")


# XLSX headers (msgids); CSV keeps the column names.
LABELS = {
    "lender": N_("Lender"), "period": N_("Period"), "branch": N_("Branch"), "agent": N_("Agent"),
    "currency": N_("Currency"),
    "expected": N_("Due in period"), "collected": N_("Collected"), "recoveries": N_("Recoveries"),
    "collection_rate_excl_recoveries": N_("Collection rate excl. recoveries"),
    "collection_rate_incl_recoveries": N_("Collection rate incl. recoveries"),
    "account": N_("Account"), "borrower": N_("Borrower"), "product": N_("Product"), "principal": N_("Principal"),
    "repaid_in_month": N_("Repaid in period"), "outstanding_at_month_end": N_("Outstanding at end of period"),
    "outstanding_principal": N_("Outstanding principal"), "days_past_due": N_("Days past due"),
    "role": N_("Role"), "rule": N_("Rule"), "base": N_("Base"), "commission": N_("Commission"),
    "template": N_("Template"), "language": N_("Language"), "messages": N_("Messages"), "sent": N_("Sent"),
    "delivered": N_("Delivered"), "failed": N_("Failed"), "cost": N_("Cost"),
    "calls": N_("Calls"), "confirmed": N_("Confirmed"), "discrepancies": N_("Discrepancies"),
    "unreachable": N_("Unreachable"), "pending": N_("Pending"), "confirmed_rate": N_("Confirmed %"),
}
LABELS.update(cost_report.LABELS)
MONEY = {"expected", "collected", "recoveries", "principal", "repaid_in_month", "outstanding_at_month_end",
         "outstanding_principal", "base", "commission", "cost", *cost_report.MONEY}
PERCENT = {"collection_rate_excl_recoveries", "collection_rate_incl_recoveries", "recovered_per_cost", "confirmed_rate"}


@dataclass
class Report:
    name: str
    title: tuple[str, dict]  # msgid and its values, told in the reader's language
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    as_of: dt.date | None = None  # the month is not over: month to date, figures as of this day

    def filename(self, month: str, fmt: str) -> str:
        to_date = f"-to-{self.as_of.isoformat()}" if self.as_of else ""
        return f"{self.name}-{month}{to_date}.{fmt}"

    def heading(self, speaker: Speaker) -> str:
        title = speaker._(self.title[0], **self.title[1])
        if self.as_of:
            title += " (" + speaker._("month to date, as of {day}", day=speaker.date(self.as_of)) + ")"
        return title


def _period(month: str, today: dt.date | None) -> tuple[dt.date, dt.date, dt.date | None]:
    """The month's first and last day; for the month under way, its last day is today (month to date)."""
    first, last = month_bounds(month)
    if today is not None and first <= today < last:
        return first, today, today
    return first, last, None


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


def lender_names(session: Session) -> dict[int | None, str]:
    return {None: "-", **dict(session.exec(select(FieldPartner.id, FieldPartner.name)).all())}


def _by_lender(report: Report, lender_of_row: list, by_lender: bool) -> Report:
    """The platform's view across lenders: the lender as the first column of every row."""
    if by_lender:
        report.columns.insert(0, "lender")
        report.rows = [[lender, *row] for lender, row in zip(lender_of_row, report.rows, strict=True)]
    return report


def _loan_groups(session: Session, lenders: tuple[int, ...] | None, by_lender: bool) -> dict[int, tuple]:
    names, lender = dict(session.exec(select(Agent.id, Agent.name)).all()), lender_names(session)
    query = (select(Loan.id, Borrower.field_partner_id, Borrower.branch, Borrower.onboarded_by_agent_id, Loan.currency)
             .join(Borrower, Borrower.id == Loan.borrower_id))
    if lenders is not None:
        query = query.where(Borrower.field_partner_id.in_(lenders))
    return {loan_id: ((lender[partner],) if by_lender else ()) + (branch or "-", names.get(agent, "-"), currency)
            for loan_id, partner, branch, agent, currency in session.exec(query).all()}


def collections_report(session: Session, month: str, today: dt.date | None = None,
                       lenders: tuple[int, ...] | None = None, by_lender: bool = False) -> Report:
    """Expected vs collected per week and for the month, by branch and agent (and lender, for the
    platform's view). Recoveries: money from loans that were more than 90 days late or written off
    when the month began. Collection rates with and without them (the module's docstring)."""
    first, last, as_of = _period(month, today)
    groups = _loan_groups(session, lenders, by_lender)
    end = end_of(last)
    due = session.exec(select(Installment).where(
        Installment.due_date >= first, Installment.due_date <= last,
        or_(Installment.effective_from.is_(None), Installment.effective_from < end))).all()
    paid = session.exec(select(LedgerEntry).where(
        LedgerEntry.payment_id.is_not(None), LedgerEntry.created_at >= _start(first),
        LedgerEntry.created_at < end)).all()
    due, paid = [i for i in due if i.loan_id in groups], [e for e in paid if e.loan_id in groups]
    before = first - dt.timedelta(days=1)
    bad_loans = {r.loan_id for r in portfolio.loan_arrears(session, before, lenders=lenders) if r.days_past_due > 90}
    bad_loans |= set(session.exec(select(LedgerEntry.loan_id).where(
        LedgerEntry.kind == "writeoff", LedgerEntry.created_at < _start(first))).all())

    table = defaultdict(lambda: [0, 0, 0])  # (period, [lender,] branch, agent, currency) -> expected, collected, ...
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
    report = Report("collections", (N_("Collections and recoveries {month}"), {"month": month}),
                    ["period", *(["lender"] if by_lender else []), "branch", "agent", "currency", "expected",
                     "collected", "recoveries", "collection_rate_excl_recoveries", "collection_rate_incl_recoveries"],
                    as_of=as_of)
    order = {label: k for k, (label, _, _) in enumerate(_weeks(first, last))}
    for (label, *group, cur), (expected, collected, recovered) in sorted(
            table.items(), key=lambda kv: (order[kv[0][0]], kv[0][1:])):
        report.rows.append([label, *group, cur, from_minor(expected, cur), from_minor(collected, cur),
                            from_minor(recovered, cur),
                            portfolio.ratio(collected - recovered, expected) if expected else "",
                            portfolio.ratio(collected, expected) if expected else ""])
    return report


def funders_report(session: Session, month: str, today: dt.date | None = None,
                   lenders: tuple[int, ...] | None = None, by_lender: bool = False) -> Report:
    """Per loan of `lenders` (None: all): what was repaid in the month and what is still owed at its end
    (month to date: today)."""
    first, last, as_of = _period(month, today)
    repaid = defaultdict(int)
    for loan_id, amount in session.exec(select(LedgerEntry.loan_id, LedgerEntry.amount).where(
            LedgerEntry.payment_id.is_not(None), LedgerEntry.created_at >= _start(first),
            LedgerEntry.created_at < end_of(last))).all():
        repaid[loan_id] += amount
    at_end = {r.loan_id: r for r in portfolio.loan_arrears(session, last, lenders=lenders)}
    report = Report("funders", (N_("Monthly repayment per loan {month}"), {"month": month}),
                    ["account", "borrower", "product", "currency", "principal", "repaid_in_month",
                     "outstanding_at_month_end", "outstanding_principal", "days_past_due"], as_of=as_of)
    lender, lenders_of_rows = lender_names(session), []
    for loan, borrower in session.exec(select(Loan, Borrower).join(Borrower, Borrower.id == Loan.borrower_id)
                                       .where(Loan.id.in_(list(at_end))).order_by(Loan.account_ref)):
        r, cur = at_end[loan.id], loan.currency
        lenders_of_rows.append(lender[borrower.field_partner_id])
        report.rows.append([loan.account_ref, borrower.name, loan.product, cur, from_minor(loan.principal, cur),
                            from_minor(repaid[loan.id], cur), from_minor(r.outstanding, cur),
                            from_minor(r.outstanding_principal, cur), r.days_past_due])
    return _by_lender(report, lenders_of_rows, by_lender)


def commissions_report(session: Session, month: str, settings: Settings | None = None,
                       agent_id: int | None = None, today: dt.date | None = None,
                       lenders: tuple[int, ...] | None = None, by_lender: bool = False) -> Report:
    report = Report("commissions", (N_("Agent commissions {month}"), {"month": month}),
                    ["agent", "role", "rule", "account", "borrower", "currency", "base", "commission"],
                    as_of=_period(month, today)[2])
    lender, lenders_of_rows = lender_names(session), []
    for agent in commission_rules.commissions(session, month, settings, agent_id, lenders):
        for line in agent["lines"]:
            cur = line["currency"]
            report.rows.append([agent["agent"], agent["role"], line["rule"], line["loan"], line["borrower"], cur,
                                from_minor(line["base"], cur), from_minor(line["amount"], cur)])
        for cur, total in sorted(agent["totals"].items()):
            report.rows.append([agent["agent"], agent["role"], "total", "", "", cur, "", from_minor(total, cur)])
        lenders_of_rows += [lender[agent["field_partner_id"]]] * (len(report.rows) - len(lenders_of_rows))
    return _by_lender(report, lenders_of_rows, by_lender)


# Message.status as gateway.workers.sms and the delivery reports set it.
SENT = {"sent", "delivered", "undelivered"}  # accepted by Africa's Talking
DELIVERED = {"delivered"}
FAILED = {"failed", "undelivered"}  # refused when sent, or not delivered in the end


def messaging_report(session: Session, month: str, today: dt.date | None = None,
                     lenders: tuple[int, ...] | None = None, by_lender: bool = False) -> Report:
    """SMS created in the month by template and language: sent (accepted by the provider),
    delivered, failed (refused or undelivered), unknown (the send died half-way: for review),
    cost (KES, as Africa's Talking charged it). Only messages to `lenders`' borrowers (None: all, and
    those to no borrower)."""
    first, last, as_of = _period(month, today)
    table = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    in_month = (Message.created_at >= _start(first), Message.created_at < end_of(last))
    query = select(Message, Borrower.field_partner_id).outerjoin(Borrower, Borrower.id == Message.borrower_id)
    if lenders is not None:
        query = query.where(Borrower.field_partner_id.in_(lenders))
    lender = lender_names(session)
    for m, partner in session.exec(query.where(*in_month)):
        row = table[(lender[partner] if by_lender else "", m.template, m.language)]
        status = (m.status or "").lower()
        row[0] += 1
        row[1] += status in SENT
        row[2] += status in DELIVERED
        row[3] += status in FAILED
        row[4] += status == MessageStatus.unknown
        row[5] += m.cost_minor
    report = Report("messaging", (N_("Messaging {month}"), {"month": month}),
                    ["template", "language", "messages", "sent", "delivered", "failed", "unknown", "currency", "cost"],
                    as_of=as_of)
    rows = sorted(table.items())
    for (_, template, lang), (n, sent, delivered, failed, unknown, cost) in rows:
        report.rows.append([template, lang, n, sent, delivered, failed, unknown, "KES", from_minor(cost, "KES")])
    return _by_lender(report, [partner for (partner, _, _), _ in rows], by_lender)


def pursuit_cost_report(session: Session, month: str, today: dt.date | None = None, settings: Settings | None = None,
                        **kw) -> Report:
    return cost_report.pursuit_cost_report(session, month, today, settings, **kw)


REPORTS = {"collections": collections_report, "funders": funders_report, "commissions": commissions_report,
           "messaging": messaging_report, "pursuit-cost": pursuit_cost_report}


def _timezone(session: Session, settings: Settings, lenders: tuple[int, ...] | None) -> str:
    """Whose day "today" and "month to date" are: a report of one lender, that lender's timezone; a
    view across several lenders, DEFAULT_TIMEZONE."""
    ids = lenders if lenders is not None else tuple(session.exec(select(FieldPartner.id).limit(2)).all())
    partner = session.get(FieldPartner, ids[0]) if len(ids) == 1 else None
    return (partner.timezone if partner is not None else "") or settings.default_timezone


def build(session: Session, name: str, month: str, settings: Settings | None = None, *,
          lenders: tuple[int, ...] | None = None, by_lender: bool = False, **kw) -> Report:
    """Report `name` of `lenders` (None: all); `by_lender`: the lender as the first column (the platform's view)."""
    if name not in REPORTS:
        raise ValueError(f"report must be one of {', '.join(REPORTS)}")
    month_bounds(month)  # a clear error for a bad month
    settings = settings or Settings.from_env()
    today = Speaker("en", timezone=_timezone(session, settings, lenders)).today()
    scope = {"lenders": lenders, "by_lender": by_lender}
    if name == "commissions":
        return commissions_report(session, month, settings, today=today, **kw, **scope)
    if name == "pursuit-cost":  # rows per branch, agent and currency of the lenders given
        return pursuit_cost_report(session, month, today, settings, partner_ids=lenders, **kw)
    return REPORTS[name](session, month, today, **scope)


def to_csv(report: Report) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(report.columns)
    writer.writerows(report.rows)
    return buf.getvalue().encode("utf-8")


def to_xlsx(report: Report, language: str = "en") -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    speaker = Speaker(language)
    wb = Workbook()
    ws = wb.active
    ws.title = report.name[:31]
    ws.append([report.heading(speaker)])
    ws["A1"].font = Font(bold=True, size=12)
    headers = [speaker._(LABELS.get(c, c)) for c in report.columns]
    ws.append(headers)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A3"  # title and headers stay in view
    for row in report.rows:
        ws.append(row)
    for k, column in enumerate(report.columns, start=1):
        fmt = "#,##0.00" if column in MONEY else "0.0%" if column in PERCENT else None
        values = [ws.cell(r, k).value for r in range(3, ws.max_row + 1)]
        if fmt:
            for r in range(3, ws.max_row + 1):
                ws.cell(r, k).number_format = fmt
        shown = [len(f"{v:,.2f}") if column in MONEY and isinstance(v, (int, Decimal)) else len(str(v or ""))
                 for v in values]
        ws.column_dimensions[get_column_letter(k)].width = min(60, max([len(headers[k - 1]), *shown, 6]) + 2)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def render(report: Report, fmt: str, language: str = "en") -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    return to_csv(report) if fmt == "csv" else to_xlsx(report, language)
