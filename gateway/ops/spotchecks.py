"""Spot checks: each month a random sample of a lender's loans becomes verification calls.

The sample is stratified: loans disbursed in the month ("new"), loans in arrears at the month's
end (or today, for the month under way) and loans repaid in the month; each loan is in one
stratum only (arrears, then repaid, then new). `per_stratum` loans are drawn from each with
random.Random(seed) over the sorted loan ids, so the recorded seed reproduces the sample. One
spot check per lender and month: drawing again shows the one there is; a redraw is allowed only
while no call has an outcome.

The call centre reads a short script to the borrower; every question answered "no" is a
discrepancy, which raises one flag (kind spot_check_discrepancy). Every step is audited.
"""
from __future__ import annotations

import datetime as dt
import random
import secrets

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, delete, select

from gateway import audit
from gateway.db import utcnow
from gateway.i18n import N_, Speaker
from gateway.models import (
    Agent,
    Borrower,
    FieldPartner,
    Installment,
    LedgerEntry,
    Loan,
    LoanStatus,
    SpotCheck,
    SpotCheckCall,
    SpotCheckStatus,
)
from gateway.ops import flags, portfolio
from gateway.ops.commissions import month_bounds
from gateway.ops.reports import Report

STRATA = ("new", "arrears", "repaid")
QUESTIONS = ("exists_and_holds_loan", "received_amount", "knows_installment_and_dates", "no_extra_charges")
# What the caller ticks, per question (yes = as the lender's books say).
LABELS = {
    "exists_and_holds_loan": N_("The borrower exists and holds this loan"),
    "received_amount": N_("Received the amount"),
    "knows_installment_and_dates": N_("Knows the installment and due dates"),
    "no_extra_charges": N_("Was not charged anything extra"),
}
# What the caller reads out, with the loan's own figures.
SCRIPT = {
    "exists_and_holds_loan": N_("Ask: are you {name}, and do you have loan {account} with {lender}?"),
    "received_amount": N_("Ask: how much did you receive, and when? (The books say {amount} on {date}.)"),
    "knows_installment_and_dates": N_(
        "Ask: how much is your installment, and when is it due? (The books say {installment}, due {dates}.)"),
    "no_extra_charges": N_(
        "Ask: did anyone ask you to pay anything besides your installments: a fee, a gift, a charge? "
        "Tick yes if nobody did."),
}
OUTCOMES = ("answered", SpotCheckStatus.unreachable.value)
MAX_PER_STRATUM = 200
DEFAULT_PER_STRATUM = 10


class SpotCheckError(ValueError):
    """`msgid` with `values`: the CLI prints it in English, the console in the manager's language."""

    def __init__(self, msgid: str, **values):
        super().__init__(msgid.format(**values))
        self.msgid, self.values = msgid, values


def _check_month(month: str, today: dt.date) -> tuple[dt.date, dt.date]:
    first, last = month_bounds(month)
    if first > today:
        raise SpotCheckError(N_("{month} has not begun yet"), month=month)
    return first, min(last, today)


def populations(session: Session, partner_id: int, month: str, today: dt.date) -> dict[str, list[int]]:
    """Loan ids per stratum, sorted; a loan is in the first of arrears, repaid, new that fits it."""
    first, last = _check_month(month, today)
    loans = {lid: (status, disbursed) for lid, status, disbursed in session.exec(
        select(Loan.id, Loan.status, Loan.disbursed_on).join(Borrower, Borrower.id == Loan.borrower_id)
        .where(Borrower.field_partner_id == partner_id, Loan.status != LoanStatus.pending)).all()}
    arrears = {r.loan_id for r in portfolio.loan_arrears(session, last)
               if r.field_partner_id == partner_id and r.arrears > 0 and loans[r.loan_id][0] == LoanStatus.active}
    start, end = portfolio.end_of(first - dt.timedelta(days=1)), portfolio.end_of(last)
    repaid = set()
    for loan_id, at in session.exec(select(LedgerEntry.loan_id, func.max(LedgerEntry.created_at))
                                    .join(Loan, Loan.id == LedgerEntry.loan_id)
                                    .join(Borrower, Borrower.id == Loan.borrower_id)
                                    .where(LedgerEntry.payment_id.is_not(None), Borrower.field_partner_id == partner_id,
                                           Loan.status == LoanStatus.repaid)
                                    .group_by(LedgerEntry.loan_id)).all():
        if isinstance(at, str):  # some drivers hand back MAX() as naive UTC text
            at = dt.datetime.fromisoformat(at)
        at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        if loans[loan_id][0] == LoanStatus.repaid and start <= at < end and loan_id not in arrears:
            repaid.add(loan_id)
    new = {lid for lid, (_, disbursed) in loans.items()
           if disbursed and first <= disbursed <= last and lid not in arrears | repaid}
    return {"new": sorted(new), "arrears": sorted(arrears), "repaid": sorted(repaid)}


def sample(pools: dict[str, list[int]], per_stratum: int, seed: int) -> dict[str, list[int]]:
    """The same pools, size and seed always give the same loans."""
    rng = random.Random(seed)
    return {s: sorted(rng.sample(sorted(pools[s]), min(per_stratum, len(pools[s])))) for s in STRATA}


def find(session: Session, partner_id: int, month: str) -> SpotCheck | None:
    return session.exec(select(SpotCheck).where(SpotCheck.field_partner_id == partner_id,
                                                SpotCheck.month == month)).first()


def draw(session: Session, partner: FieldPartner, month: str, per_stratum: int = DEFAULT_PER_STRATUM,
         seed: int | None = None, *, actor: str = "system", redraw: bool = False,
         today: dt.date | None = None) -> tuple[SpotCheck, bool]:
    """The lender's spot check for `month` and whether it was drawn now. Drawn once per lender and
    month; `redraw` draws it again (a new seed unless given) while no call has an outcome."""
    today = today or Speaker("en", timezone=partner.timezone).today()
    if not 1 <= per_stratum <= MAX_PER_STRATUM:
        raise SpotCheckError(N_("per stratum must be from 1 to {most}"), most=MAX_PER_STRATUM)
    if seed is not None and not 0 <= seed < 2 ** 63:
        raise SpotCheckError(N_("the seed must be a whole number from 0 to 2^63-1"))
    pools = populations(session, partner.id, month, today)
    check = find(session, partner.id, month)
    if check is not None and not redraw:
        return check, False
    if check is not None:
        called = session.exec(select(func.count(SpotCheckCall.id)).where(
            SpotCheckCall.spot_check_id == check.id, SpotCheckCall.status != SpotCheckStatus.pending)).one()
        if called:
            raise SpotCheckError(N_("the spot check of {month} already has {called} outcomes: it cannot be drawn "
                                     "again"), month=month, called=called)
        session.exec(delete(SpotCheckCall).where(SpotCheckCall.spot_check_id == check.id))
    seed = secrets.randbits(48) if seed is None else seed
    drawn = sample(pools, per_stratum, seed)
    sizes = {s: {"population": len(pools[s]), "drawn": len(drawn[s])} for s in STRATA}
    if check is None:
        check = SpotCheck(field_partner_id=partner.id, month=month, seed=seed, per_stratum=per_stratum, sizes=sizes,
                          created_by=actor)
        try:
            with session.begin_nested():  # drawn at the same moment elsewhere: show that one
                session.add(check)
                session.flush()
        except IntegrityError:
            return find(session, partner.id, month), False
    else:
        check.seed, check.per_stratum, check.sizes, check.created_by, check.created_at = (
            seed, per_stratum, sizes, actor, utcnow())
        session.add(check)
    for stratum in STRATA:
        for loan_id in drawn[stratum]:
            session.add(SpotCheckCall(spot_check_id=check.id, loan_id=loan_id, stratum=stratum))
    session.flush()
    audit.record(session, actor, "spot_check.redrawn" if redraw else "spot_check.drawn", "spot_check", check.id,
                 field_partner_id=partner.id, month=month, seed=seed, per_stratum=per_stratum, sizes=sizes)
    return check, True


def record_outcome(session: Session, call_id: int, agent: Agent, outcome: str, answers: dict | None = None,
                   note: str = "") -> SpotCheckCall:
    """`outcome` "answered" with a yes/no per script question (any no: a discrepancy, flagged once)
    or "unreachable" (the call may be made again). A confirmed or discrepant call is final."""
    call = session.get(SpotCheckCall, call_id)
    if call is None:
        raise SpotCheckError(f"no spot-check call {call_id}")
    if call.status in (SpotCheckStatus.confirmed, SpotCheckStatus.discrepancy):
        raise SpotCheckError(N_("This call already has its outcome."))
    if outcome not in OUTCOMES:
        raise SpotCheckError(N_("Say whether the borrower answered."))
    answers = {q: str((answers or {}).get(q, "")).strip().lower() for q in QUESTIONS}
    if outcome == "answered":
        if any(a not in ("yes", "no") for a in answers.values()):
            raise SpotCheckError(N_("Answer every question yes or no."))
        status = SpotCheckStatus.discrepancy if "no" in answers.values() else SpotCheckStatus.confirmed
    else:
        status, answers = SpotCheckStatus.unreachable, {}
    call.status, call.answers, call.note = status.value, answers, (note or "").strip()[:500]
    call.agent_id, call.called_at = agent.id, utcnow()
    session.add(call)
    actor = f"agent:{agent.id}"
    audit.record(session, actor, "spot_check.call", "spot_check_call", call.id, status=call.status,
                 answers=answers, loan_id=call.loan_id)
    if status == SpotCheckStatus.discrepancy:
        check = session.get(SpotCheck, call.spot_check_id)
        loan = session.get(Loan, call.loan_id)
        numbers = ", ".join(str(k) for k, q in enumerate(QUESTIONS, start=1) if answers[q] == "no")
        flags.raise_flag(session, "spot_check_discrepancy", str(call.id),
                         N_("spot check {month}: the borrower answered no to question {questions}"),
                         {"month": check.month, "questions": numbers}, loan_id=loan.id,
                         borrower_id=loan.borrower_id, actor=actor, spot_check_call_id=call.id, answers=answers)
    return call


def script(session: Session, call: SpotCheckCall, speaker: Speaker) -> list[tuple[str, str, str]]:
    """(question, what to tick, what to read out) for the call, in the caller's language."""
    loan = session.get(Loan, call.loan_id)
    borrower = session.get(Borrower, loan.borrower_id)
    lender = session.get(FieldPartner, borrower.field_partner_id)
    rows = session.exec(select(Installment).where(Installment.loan_id == loan.id).order_by(Installment.seq)).all()
    dates = ", ".join(speaker.date(i.due_date) for i in rows[:4]) + (" …" if len(rows) > 4 else "")
    values = {"name": borrower.name, "account": loan.account_ref, "lender": lender.name,
              "amount": speaker.money(loan.principal, loan.currency),
              "date": speaker.date(loan.disbursed_on) if loan.disbursed_on else "-",
              "installment": speaker.money(rows[0].amount_due, loan.currency) if rows else "-", "dates": dates or "-"}
    return [(q, speaker._(LABELS[q]), speaker._(SCRIPT[q], **values)) for q in QUESTIONS]


def open_calls(session: Session, partner_ids: tuple[int, ...] | None, limit: int = 200) -> list[tuple]:
    """Calls still to make (pending, or unreachable last time): (call, check, loan, borrower)."""
    query = (select(SpotCheckCall, SpotCheck, Loan, Borrower)
             .join(SpotCheck, SpotCheck.id == SpotCheckCall.spot_check_id)
             .join(Loan, Loan.id == SpotCheckCall.loan_id).join(Borrower, Borrower.id == Loan.borrower_id)
             .where(SpotCheckCall.status.in_([SpotCheckStatus.pending, SpotCheckStatus.unreachable]))
             .order_by(SpotCheck.month, SpotCheckCall.status, SpotCheckCall.id).limit(limit))
    if partner_ids is not None:
        query = query.where(SpotCheck.field_partner_id.in_(partner_ids))
    return list(session.exec(query).all())


REPORT_COLUMNS = ["branch", "agent", "calls", "confirmed", "discrepancies", "unreachable", "pending",
                  "confirmed_rate"]


def report(session: Session, check: SpotCheck) -> Report:
    """The compliance report of one spot check, by branch and field agent (who onboarded the
    borrower), then all of them. Confirmed %: confirmed calls over calls that reached the borrower
    and were answered (confirmed + discrepancies); unreachable and pending calls are not in it."""
    names = dict(session.exec(select(Agent.id, Agent.name)).all())
    rows = session.exec(select(SpotCheckCall.status, Borrower.branch, Borrower.onboarded_by_agent_id)
                        .join(Loan, Loan.id == SpotCheckCall.loan_id).join(Borrower, Borrower.id == Loan.borrower_id)
                        .where(SpotCheckCall.spot_check_id == check.id)).all()
    table: dict[tuple[str, str], dict[str, int]] = {}
    for status, branch, agent_id in rows:
        for key in ((branch or "-", names.get(agent_id, "-")), ("", "")):
            counts = table.setdefault(key, dict.fromkeys(SpotCheckStatus, 0))
            counts[SpotCheckStatus(status)] += 1
    built = Report("spot-checks", (N_("Spot checks {month}"), {"month": check.month}), list(REPORT_COLUMNS))
    for (branch, agent), c in sorted(table.items(), key=lambda kv: (kv[0] == ("", ""), kv[0])):
        answered = c[SpotCheckStatus.confirmed] + c[SpotCheckStatus.discrepancy]
        built.rows.append([branch or "all", agent or "all", sum(c.values()), c[SpotCheckStatus.confirmed],
                           c[SpotCheckStatus.discrepancy], c[SpotCheckStatus.unreachable],
                           c[SpotCheckStatus.pending],
                           portfolio.ratio(c[SpotCheckStatus.confirmed], answered) if answered else ""])
    return built


def discrepancies(session: Session, check: SpotCheck) -> list[tuple]:
    """(call, loan, borrower, caller's name) of every discrepancy, for the manager to follow up."""
    names = dict(session.exec(select(Agent.id, Agent.name)).all())
    rows = session.exec(select(SpotCheckCall, Loan, Borrower).join(Loan, Loan.id == SpotCheckCall.loan_id)
                        .join(Borrower, Borrower.id == Loan.borrower_id)
                        .where(SpotCheckCall.spot_check_id == check.id,
                               SpotCheckCall.status == SpotCheckStatus.discrepancy)
                        .order_by(SpotCheckCall.id)).all()
    return [(call, loan, borrower, names.get(call.agent_id, "-")) for call, loan, borrower in rows]
