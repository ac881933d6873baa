"""JSON API for collections operations, `/api/ops/...`, Bearer token of an Agent, role-checked.
Views are thin: parse, call a service, answer."""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from decimal import Decimal

from flask import Blueprint, g, jsonify, request

from gateway.db import MAX_ID, session_scope
from gateway.i18n import Speaker
from gateway.messaging import stuck
from gateway.models import Agent, CallbackRequest, Flag, Loan, Message
from gateway.money import MoneyError, to_minor
from gateway.ops import callcentre, commissions, flags, loan_ops, portfolio, promises
from gateway.text import text
from gateway.web import scope
from gateway.web.auth import staff
from gateway.web.roles import CALLERS, MANAGERS, OVERSEERS, STAFF, Role

bp = Blueprint("ops_api", __name__, url_prefix="/api/ops")
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(2999, 12, 31)  # dates the arithmetic handles


def plain(value):
    """Dates as ISO strings, Decimals as strings, dataclasses as dicts: JSON a client can parse."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def bad(detail: str, code: int = 400):
    return jsonify(error="bad_request" if code == 400 else "not_found", detail=detail), code


def _today() -> dt.date:
    return Speaker("en", timezone=_settings().default_timezone).today()


def _settings():
    from flask import current_app
    return current_app.config["GATEWAY"]


def _date_arg(name: str, default: dt.date | None = None) -> dt.date:
    body = request.get_json(silent=True)
    raw = request.args.get(name) or (body.get(name) if isinstance(body, dict) else None)
    if not raw:
        if default is None:
            raise ValueError(f"{name} is required (YYYY-MM-DD)")
        return default
    try:
        day = dt.date.fromisoformat(str(raw))
    except ValueError:
        raise ValueError(f"{name} must be a date like 2027-01-31") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"{name} must be from {FIRST_DAY} to {LAST_DAY}")
    return day


def _id(value, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ID:
        raise ValueError(f"{name} must be an id (a whole number from 1)")
    return value


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValueError("send a JSON object")
    return data


@bp.errorhandler(ValueError)
def _value_error(exc):  # every service error is a ValueError subclass: a clear 400, never a 500
    return bad(str(exc))


@bp.get("/portfolio")
@staff(*OVERSEERS)
def portfolio_view():  # a lender's managers: their lender; the platform role: every lender (by=field_partner)
    as_of = _date_arg("as_of", _today())
    by = request.args.get("by", "portfolio")
    with session_scope() as s:
        rows = portfolio.loan_arrears(s, as_of, lenders=scope.lenders(s))
        return jsonify(plain({"as_of": as_of, "by": by, "par": portfolio.par_table(rows, by),
                              "buckets": portfolio.bucket_table(rows)}))


@bp.get("/loans/<id:loan_id>/arrears")
@staff(*STAFF, Role.PLATFORM)
def loan_arrears(loan_id: int):
    as_of = _date_arg("as_of", _today())
    with session_scope() as s:
        scope.guard(s, Loan, loan_id)
        row = portfolio.arrears_of(s, loan_id, as_of)
        if row is None:
            return bad(f"no loan {loan_id} on the book on {as_of}", 404)
        return jsonify(plain({"as_of": as_of, **dataclasses.asdict(row), "bucket": row.bucket}))


@bp.get("/loans/<id:loan_id>/open-promise")
@staff(*STAFF)
def open_promise(loan_id: int):
    on = _date_arg("date", _today())
    with session_scope() as s:
        scope.guard(s, Loan, loan_id)
        return jsonify(loan_id=loan_id, date=on.isoformat(), open_promise=promises.has_open_promise(s, loan_id, on))


def _flags_json(s, items: list[Flag]) -> list[dict]:
    about = flags.subjects(s, items)
    return [plain({"id": f.id, "kind": f.kind, "loan_id": f.loan_id, "account_ref": about[f.id][0] or None,
                   "borrower_id": f.borrower_id, "borrower_name": about[f.id][1] or None,
                   "payment_id": f.payment_id, "reason": f.reason, "status": f.status, "created_at": f.created_at,
                   "resolved_by": f.resolved_by, "resolution": f.resolution}) for f in items]


@bp.get("/flags")
@staff(*CALLERS, Role.PLATFORM)
def list_flags():
    with session_scope() as s:
        return jsonify(flags=_flags_json(s, flags.open_flags(s, lenders=scope.lenders(s))))


@bp.post("/flags/scan")
@staff(*MANAGERS)
def scan_flags():  # the lender's own book
    with session_scope() as s:
        raised = flags.scan(s, _today(), _settings(), scope.lenders(s))
        return jsonify(raised=_flags_json(s, raised))


@bp.post("/flags/<id:flag_id>/resolve")
@staff(*MANAGERS)
def resolve_flag(flag_id: int):
    note = text(_body().get("note"), "note")
    with session_scope() as s:
        scope.guard(s, Flag, flag_id)
        if s.get(Flag, flag_id) is None:
            return bad(f"no flag {flag_id}", 404)
        return jsonify(_flags_json(s, [flags.resolve(s, flag_id, g.actor, note)])[0])


@bp.post("/loans/<id:loan_id>/write-off")
@staff(*MANAGERS)
def write_off(loan_id: int):
    reason = text(_body().get("reason"), "reason")
    with session_scope() as s:
        scope.guard(s, Loan, loan_id)
        if s.get(Loan, loan_id) is None:
            return bad(f"no loan {loan_id}", 404)
        entries = loan_ops.write_off(s, loan_id, g.actor, reason)
        return jsonify(loan_id=loan_id, written_off=sum(e.amount for e in entries))


@bp.post("/loans/<id:loan_id>/restructure")
@staff(*MANAGERS)
def restructure(loan_id: int):
    body = _body()
    reason, frequency = text(body.get("reason"), "reason"), text(body.get("frequency"), "frequency", default="monthly")
    count, rate = body.get("count", 0), body.get("rate", "0")
    try:
        if any(isinstance(v, bool) for v in (count, rate)) or not isinstance(count, (int, str)) \
                or not isinstance(rate, (int, float, str)):
            raise ValueError  # a rate may be a JSON number (it is no amount of money); not a list, {} or true
        count, rate = int(count), Decimal(str(rate))
    except (ValueError, ArithmeticError):
        return bad("count must be a whole number and rate a decimal like 0.03")
    with session_scope() as s:
        scope.guard(s, Loan, loan_id)
        if s.get(Loan, loan_id) is None:
            return bad(f"no loan {loan_id}", 404)
        new = loan_ops.restructure(s, loan_id, g.actor, reason, count=count, first_due=_date_arg("first_due"),
                                   frequency=frequency, rate=rate)
        return jsonify(plain({"loan_id": loan_id, "installments": [
            {"seq": i.seq, "due_date": i.due_date, "amount_due": i.amount_due} for i in new]}))


@bp.get("/queue")
@staff(*CALLERS)
def queue():
    today = _today()
    mine = g.agent.role == Role.CALLCENTRE
    with session_scope() as s:
        lenders = scope.lenders(s)
        callbacks = callcentre.callback_tasks(s, lenders=lenders)  # asked to be called: first, oldest first
        items = callcentre.work_queue(s, today, g.agent.id, only_agent=mine, lenders=lenders)
        return jsonify(plain({"date": today, "callbacks": callbacks,
                              "items": [{**dataclasses.asdict(i), "priority": i.priority} for i in items]}))


@bp.post("/queue/assign")
@staff(*MANAGERS)
def assign():
    body = _body()
    ids, agent_id = body.get("loan_ids"), body.get("agent_id")
    try:
        if not isinstance(ids, list):
            raise ValueError
        ids, agent_id = [_id(i, "loan_ids") for i in ids], _id(agent_id, "agent_id")
    except ValueError:
        return bad("send loan_ids (a list of loan ids) and agent_id")
    with session_scope() as s:
        scope.guard(s, Agent, agent_id)
        for loan_id in ids:
            scope.guard(s, Loan, loan_id)
        return jsonify(assigned=callcentre.assign(s, ids, agent_id, g.actor), agent_id=agent_id)


def _call_outcome(body: dict, currency: str | None) -> dict:
    """outcome, note and (for a promise) its date and amount, from a call's JSON body."""
    outcome, note = text(body.get("outcome"), "outcome"), text(body.get("note"), "note")
    args = dict(outcome=outcome, note=note, promise_date=None, promise_amount=None)
    if outcome == "promise" and currency:
        args["promise_date"] = _date_arg("promise_date")
        try:
            args["promise_amount"] = to_minor(body.get("promise_amount", ""), currency)
        except MoneyError as exc:
            raise ValueError(f"promise_amount: {exc}") from None
    return args


@bp.post("/loans/<id:loan_id>/calls")
@staff(*CALLERS)
def log_call(loan_id: int):
    body = _body()
    with session_scope() as s:
        scope.guard(s, Loan, loan_id)
        loan = s.get(Loan, loan_id)
        if loan is None:
            return bad(f"no loan {loan_id}", 404)
        args = _call_outcome(body, loan.currency)
        call = callcentre.log_call(s, loan_id, s.get(Agent, g.agent.id), args.pop("outcome"), args.pop("note"),
                                   today=_today(), **args)
        return jsonify(id=call.id, loan_id=loan_id, outcome=call.outcome, promise_id=call.promise_id), 201


@bp.post("/callbacks/<id:request_id>/outcome")
@staff(*CALLERS)
def callback_outcome(request_id: int):
    body = _body()
    with session_scope() as s:
        scope.guard(s, CallbackRequest, request_id)
        request_row = s.get(CallbackRequest, request_id)
        if request_row is None:
            return bad(f"no call-back request {request_id}", 404)
        loan = s.get(Loan, request_row.loan_id) if request_row.loan_id else None
        args = _call_outcome(body, loan.currency if loan else None)
        done = callcentre.handle_callback(s, request_id, s.get(Agent, g.agent.id), args.pop("outcome"),
                                          args.pop("note"), today=_today(), **args)
        return jsonify(plain({"id": done.id, "status": done.status, "outcome": done.outcome,
                              "call_id": done.call_id, "handled_at": done.handled_at}))


@bp.get("/team")
@staff(*CALLERS)
def team():
    day = _date_arg("date", _today())
    with session_scope() as s:
        progress = callcentre.team_progress(s, day, _settings(), lenders=scope.lenders(s))
    if g.agent.role == Role.CALLCENTRE:  # an agent sees the team total and only their own line
        progress["agents"] = [a for a in progress["agents"] if a["agent_id"] == g.agent.id]
    return jsonify(plain(progress))


@bp.get("/commissions")
@staff(*STAFF, Role.PLATFORM)
def agent_commissions():
    month = request.args.get("month", "")
    wanted = request.args.get("agent_id")
    if wanted is not None:
        with contextlib.suppress(ValueError):
            wanted = int(wanted)
        wanted = _id(wanted, "agent_id")
    if g.agent.role not in OVERSEERS:
        if wanted not in (None, g.agent.id):
            return jsonify(error="forbidden", detail="agents see only their own commissions"), 403
        wanted = g.agent.id
    with session_scope() as s:
        found = commissions.commissions(s, month, _settings(), wanted, scope.lenders(s))
        return jsonify(plain({"month": month, "agents": found}))


@bp.get("/messages/unknown")
@staff(*MANAGERS)
def unknown_messages():
    """SMS whose send died half-way (status `unknown`): did it reach the borrower? An operator decides."""
    with session_scope() as s:
        lenders = scope.lenders(s)
        return jsonify(messages=[plain({"id": m.id, "borrower_id": m.borrower_id, "phone": m.phone, "kind": m.kind,
                                        "template": m.template, "text": m.text, "attempts": m.attempts,
                                        "created_at": m.created_at, "status_history": m.status_history})
                                 for m in stuck.review_list(s)
                                 if lenders is None or scope.lender_of(s, Message, m.id) in lenders])


@bp.post("/messages/<id:message_id>/resend")
@staff(*MANAGERS)
def resend_message(message_id: int):
    with session_scope() as s:
        scope.guard(s, Message, message_id)
        m = stuck.resend(s, message_id, g.actor)
        return jsonify(id=m.id, status=m.status), 202


from gateway.ops import payouts_api  # noqa: E402,F401  (its routes join this blueprint)
