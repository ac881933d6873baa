"""The pursuit-cost report: what pursuing loans in arrears cost in a month against what was recovered, by
branch and agent (gateway/ops/costs.py says what counts). `gateway report pursuit-cost --month 2026-11`.

The agent of a row: for agent calls, the agent who called; for reminders, voice calls and money recovered,
the call-centre agent the loan is assigned to ("-" when none). Branch: the borrower's.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlmodel import Session, select

from gateway.config import Settings
from gateway.i18n import N_
from gateway.models import Agent, Borrower, CollectionAssignment, Loan
from gateway.money import from_minor
from gateway.ops import costs, portfolio
from gateway.ops.portfolio import end_of

COLUMNS = ["month", "branch", "agent", "currency", "loans", "reminders", "sms_cost", "voice_cost", "calls",
           "call_minutes", "call_cost", "agent_cost", "total_cost", "recovered", "recovered_per_cost"]
LABELS = {
    "month": N_("Month"), "loans": N_("Loans"), "reminders": N_("Reminders"), "sms_cost": N_("SMS cost"),
    "voice_cost": N_("Voice cost"), "calls": N_("Calls"), "call_minutes": N_("Call minutes"),
    "call_cost": N_("Call cost"), "agent_cost": N_("Agent time"), "total_cost": N_("Pursuit cost"),
    "recovered": N_("Recovered"), "recovered_per_cost": N_("Recovered per unit of cost"),
}
MONEY = {"sms_cost", "voice_cost", "call_cost", "agent_cost", "total_cost", "recovered"}


def _groups(session: Session, loan_ids: set[int]) -> tuple[dict, dict]:
    names = dict(session.exec(select(Agent.id, Agent.name)).all())
    assigned = dict(session.exec(select(CollectionAssignment.loan_id, CollectionAssignment.agent_id)).all())
    rows = session.exec(select(Loan.id, Borrower.branch, Loan.currency, Borrower.field_partner_id)
                        .join(Borrower, Borrower.id == Loan.borrower_id).where(Loan.id.in_(list(loan_ids)))).all()
    loans = {loan_id: (branch or "-", names.get(assigned.get(loan_id), "-"), cur, partner)
             for loan_id, branch, cur, partner in rows}
    return loans, names


def pursuit_cost_report(session: Session, month: str, today: dt.date | None = None,
                        settings: Settings | None = None, partner_ids: tuple[int, ...] | None = None):
    """One row per branch, agent and currency: pursuit costs incurred in the month and money recovered in it."""
    from gateway.ops.reports import Report, _period  # reports imports this module: import it here

    settings = settings or Settings.from_env()
    first, last, as_of = _period(month, today)
    since, until = end_of(first - dt.timedelta(days=1)), end_of(last)
    items = costs.cost_items(session, settings, since=since, until=until)
    back = costs.recovered(session, list(session.exec(select(Loan.id)).all()), last + dt.timedelta(days=1),
                           since=since, until=until)
    loans, names = _groups(session, {i.loan_id for i in items} | set(back))
    if partner_ids is not None:
        loans = {k: v for k, v in loans.items() if v[3] in partner_ids}
    table = defaultdict(lambda: {"loans": set(), "figures": None})

    def row(loan_id: int, agent: str | None = None):
        branch, assigned, cur, _ = loans[loan_id]
        entry = table[(branch, agent or assigned, cur)]
        entry["loans"].add(loan_id)
        if entry["figures"] is None:
            entry["figures"] = costs.LoanCost(0, cur)
        return entry["figures"]

    for item in items:
        if item.loan_id in loans:
            agent = names.get(item.agent_id, "-") if item.kind == "call" else None
            row(item.loan_id, agent).add(item, settings)
    for loan_id, paid in back.items():
        if loan_id in loans:
            row(loan_id).recovered += sum(amount for _, amount in paid)
    report = Report("pursuit-cost", (N_("Pursuit cost against recovery {month}"), {"month": month}), COLUMNS,
                    as_of=as_of)
    for (branch, agent, cur), entry in sorted(table.items()):
        f = entry["figures"]
        report.rows.append([month, branch, agent, cur, len(entry["loans"]), f.sms_count, from_minor(f.sms, cur),
                            from_minor(f.voice, cur), f.call_count, f.call_minutes, from_minor(f.calls, cur),
                            from_minor(f.agent_time, cur), from_minor(f.total, cur), from_minor(f.recovered, cur),
                            portfolio.ratio(f.recovered, f.total) if f.total else ""])
    return report
