"""The call-centre work queue: who to call first, who calls whom, what came of each call.

Borrowers who asked to be called back (USSD "Call me back", the welcome call's "press 2", an SMS
the gateway could not answer) come first, oldest request first; then loans in arrears."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, select

from gateway import audit
from gateway.config import Settings
from gateway.db import utcnow
from gateway.i18n import N_
from gateway.models import Agent, Borrower, CallbackRequest, CallLog, CollectionAssignment, Loan, Promise, TaskStatus
from gateway.ops import flags, portfolio, promises
from gateway.web.roles import Role

OUTCOMES = ("reached", "no_answer", "wrong_number", "promise", "dispute")


class CallCentreError(ValueError):
    pass


@dataclass(frozen=True)
class QueueItem:
    loan_id: int
    account_ref: str
    borrower_name: str
    phone: str
    currency: str
    arrears: int
    days_past_due: int
    broken_promise: bool
    agent_id: int | None
    last_outcome: str | None

    @property
    def priority(self) -> int:
        return self.arrears * self.days_past_due


def work_queue(session: Session, today: dt.date, agent_id: int | None = None,
               only_agent: bool = False, lenders: tuple[int, ...] | None = None) -> list[QueueItem]:
    """Loans in arrears today, broken promises first, then by amount x days late. Loans with an
    open promise wait until its date. `only_agent`: the agent's own accounts and unassigned ones.
    `lenders`: only their loans (None: all)."""
    promises.evaluate_due(session, today)
    rows = [r for r in portfolio.loan_arrears(session, today, lenders=lenders) if r.arrears > 0]
    waiting = promises.loans_with_open_promise(session, today)
    rows = [r for r in rows if r.loan_id not in waiting]
    ids = [r.loan_id for r in rows]
    if not ids:
        return []
    info = {loan.id: (loan, b) for loan, b in session.exec(
        select(Loan, Borrower).join(Borrower, Borrower.id == Loan.borrower_id).where(Loan.id.in_(ids)))}
    assigned = dict(session.exec(select(CollectionAssignment.loan_id, CollectionAssignment.agent_id)
                                 .where(CollectionAssignment.loan_id.in_(ids))).all())
    latest_promise = {}
    for p in session.exec(select(Promise).where(Promise.loan_id.in_(ids)).order_by(Promise.created_at, Promise.id)):
        latest_promise[p.loan_id] = p.status
    last_call = {}
    for c in session.exec(select(CallLog).where(CallLog.loan_id.in_(ids)).order_by(CallLog.created_at, CallLog.id)):
        last_call[c.loan_id] = c.outcome
    items = []
    for r in rows:
        loan, b = info[r.loan_id]
        owner = assigned.get(r.loan_id)
        if only_agent and owner not in (None, agent_id):
            continue
        items.append(QueueItem(r.loan_id, loan.account_ref, b.name, b.phone, r.currency, r.arrears, r.days_past_due,
                               latest_promise.get(r.loan_id) == "broken", owner, last_call.get(r.loan_id)))
    items.sort(key=lambda i: (not i.broken_promise, -i.priority, i.loan_id))
    return items


SOURCES = {"ussd": "ussd", "voice": "voice", "sms": "sms"}  # source_ref prefix -> where the request came from
# Shown translated in the console: the reasons and sources of call-back requests.
LABELS = (N_("ussd_request"), N_("welcome_call"), N_("inbound_sms"), N_("ussd"), N_("voice"), N_("sms"), N_("other"))


@dataclass(frozen=True)
class CallbackTask:
    id: int
    borrower_id: int
    borrower_name: str
    phone: str
    loan_id: int | None
    account_ref: str | None
    reason: str  # ussd_request | welcome_call | inbound_sms
    source: str  # ussd | voice | sms
    note: str  # what the borrower wrote, for an SMS
    requested_at: dt.datetime
    age_hours: int


def callback_tasks(session: Session, now: dt.datetime | None = None,
                   lenders: tuple[int, ...] | None = None) -> list[CallbackTask]:
    """Open call-back requests of `lenders`' borrowers (None: all), oldest first: the top of the queue."""
    now = now or utcnow()
    query = (select(CallbackRequest, Borrower, Loan)
             .join(Borrower, Borrower.id == CallbackRequest.borrower_id)
             .outerjoin(Loan, Loan.id == CallbackRequest.loan_id)
             .where(CallbackRequest.status == TaskStatus.open)
             .order_by(CallbackRequest.created_at, CallbackRequest.id))
    if lenders is not None:
        query = query.where(Borrower.field_partner_id.in_(lenders))
    rows = session.exec(query).all()
    return [CallbackTask(r.id, b.id, b.name, b.phone, r.loan_id, loan.account_ref if loan else None, r.reason,
                         SOURCES.get((r.source_ref or "").split(":")[0], "other"), r.note, r.created_at,
                         int((now - r.created_at).total_seconds() // 3600)) for r, b, loan in rows]


def handle_callback(session: Session, request_id: int, agent: Agent, outcome: str, note: str = "", *,
                    promise_date: dt.date | None = None, promise_amount: int | None = None,
                    today: dt.date | None = None) -> CallbackRequest:
    """Close a call-back task with the outcome of the call; with a loan the call is logged on it too
    (a promise is recorded as from any call)."""
    if outcome not in OUTCOMES:
        raise CallCentreError(f"outcome must be one of {', '.join(OUTCOMES)}")
    request = session.exec(select(CallbackRequest).where(CallbackRequest.id == request_id).with_for_update()).first()
    if request is None:
        raise CallCentreError(f"no call-back request {request_id}")
    if request.status != TaskStatus.open:
        raise CallCentreError(f"call-back request {request_id} was already handled ({request.outcome})")
    if request.loan_id is not None:
        call = log_call(session, request.loan_id, agent, outcome, note, promise_date=promise_date,
                        promise_amount=promise_amount, today=today)
        request.call_id = call.id
    elif outcome == "promise":
        raise CallCentreError("a promise needs a loan; this borrower has none open")
    request.status, request.outcome = TaskStatus.done, outcome
    request.handled_at, request.handled_by = utcnow(), agent.id
    session.add(request)
    session.flush()
    audit.record(session, f"agent:{agent.id}", "callback.handled", "callback_request", request.id, outcome=outcome)
    return request


def assign(session: Session, loan_ids: list[int], agent_id: int, actor: str) -> int:
    agent = session.get(Agent, agent_id)
    if agent is None or not agent.active or agent.role != Role.CALLCENTRE:
        raise CallCentreError("loans can only be assigned to an active call-centre agent")
    for loan_id in loan_ids:
        if session.get(Loan, loan_id) is None:
            raise CallCentreError(f"no loan {loan_id}")
        row = session.exec(select(CollectionAssignment).where(CollectionAssignment.loan_id == loan_id)).first()
        if row is None:
            row = CollectionAssignment(loan_id=loan_id, agent_id=agent_id, assigned_by=actor)
        row.agent_id, row.assigned_by = agent_id, actor
        session.add(row)
        audit.record(session, actor, "loan.assigned", "loan", loan_id, agent_id=agent_id)
    session.flush()
    return len(loan_ids)


def log_call(session: Session, loan_id: int, agent: Agent, outcome: str, note: str = "", *,
             promise_date: dt.date | None = None, promise_amount: int | None = None,
             today: dt.date | None = None, duration_seconds: int | None = None) -> CallLog:
    if outcome not in OUTCOMES:
        raise CallCentreError(f"outcome must be one of {', '.join(OUTCOMES)}")
    loan = session.get(Loan, loan_id)
    if loan is None:
        raise CallCentreError(f"no loan {loan_id}")
    promise = None
    if outcome == "promise":
        if promise_date is None or promise_amount is None:
            raise CallCentreError("a promise needs a date and an amount")
        try:
            promise = promises.make_promise(session, loan, promise_date, promise_amount, "call",
                                            agent_id=agent.id, today=today)
        except promises.PromiseError as exc:
            raise CallCentreError(str(exc)) from None
    call = CallLog(loan_id=loan.id, agent_id=agent.id, outcome=outcome, note=(note or "").strip()[:500],
                   promise_id=promise.id if promise else None, duration_seconds=duration_seconds)
    session.add(call)
    session.flush()
    audit.record(session, f"agent:{agent.id}", "call.logged", "loan", loan.id, outcome=outcome, call_id=call.id)
    if outcome == "wrong_number":
        flags.raise_flag(session, "bad_number", str(loan.borrower_id), N_("call-centre reached a wrong number"),
                         borrower_id=loan.borrower_id, loan_id=loan.id, actor=f"agent:{agent.id}", call_id=call.id)
    return call


def day_bounds(day: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(timezone))
    return start, start + dt.timedelta(days=1)


def team_progress(session: Session, day: dt.date, settings: Settings | None = None,
                  lenders: tuple[int, ...] | None = None) -> dict:
    """Calls made on `day` (the lender's timezone) per call-centre agent of `lenders` (None: all)
    against the daily quota."""
    settings = settings or Settings.from_env()
    start, end = day_bounds(day, settings.default_timezone)
    counts = dict(session.exec(select(CallLog.agent_id, func.count(CallLog.id))
                               .where(CallLog.created_at >= start, CallLog.created_at < end)
                               .group_by(CallLog.agent_id)).all())
    callers = select(Agent).where(Agent.role == Role.CALLCENTRE.value, Agent.active).order_by(Agent.name)
    if lenders is not None:
        callers = callers.where(Agent.field_partner_id.in_(lenders))
    agents = session.exec(callers).all()
    quota = settings.ops_daily_call_quota
    rows = [{"agent_id": a.id, "name": a.name, "calls": int(counts.get(a.id, 0)), "quota": quota} for a in agents]
    total = sum(r["calls"] for r in rows)
    return {"date": day, "agents": rows, "calls": total, "quota": quota * len(rows),
            "progress": portfolio.ratio(total, quota * len(rows))}
