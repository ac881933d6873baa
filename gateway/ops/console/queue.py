"""The call-centre queue: who to call today, the team's progress; managers assign accounts."""
from __future__ import annotations

import datetime as dt

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlmodel import select

from gateway.db import MAX_ID, session_scope
from gateway.models import Agent, CallbackRequest, Loan
from gateway.money import MoneyError, to_minor
from gateway.ops import callcentre
from gateway.ops.console.base import actor, bp, settings, today
from gateway.web import scope
from gateway.web.console_session import login_required
from gateway.web.roles import CALLERS, MANAGERS, Role


@bp.get("/queue")
@login_required(*CALLERS)
def queue_page():
    day = today()
    with session_scope() as db:
        lenders = scope.lenders(db)
        callbacks = callcentre.callback_tasks(db, lenders=lenders)  # asked to be called: first, oldest first
        items = callcentre.work_queue(db, day, g.operator.id, only_agent=g.operator.role == Role.CALLCENTRE,
                                      lenders=lenders)
        progress = callcentre.team_progress(db, day, settings(), lenders=lenders)
        agents = dict(db.exec(scope.narrow(select(Agent.id, Agent.name), Agent.field_partner_id)).all())
        callers = db.exec(scope.narrow(select(Agent).where(Agent.role == Role.CALLCENTRE.value, Agent.active),
                                       Agent.field_partner_id).order_by(Agent.name)).all()
    return render_template("queue.html", callbacks=callbacks, items=items[:200], total=len(items), progress=progress,
                           agents=agents, callers=callers, outcomes=callcentre.OUTCOMES, today=day,
                           max_promise=day + dt.timedelta(days=7))


@bp.post("/queue/assign")
@login_required(*MANAGERS)
def assign():
    try:
        ids, agent_id = [int(x) for x in request.form.getlist("loan_id")], int(request.form.get("agent_id", "0"))
        if not all(1 <= i <= MAX_ID for i in ids) or not 0 <= agent_id <= MAX_ID:
            abort(404)  # no such loan or agent (a larger number would overflow the database's integer)
        with session_scope() as db:
            scope.guard(db, Agent, agent_id)
            for loan_id in ids:
                scope.guard(db, Loan, loan_id)
            n = callcentre.assign(db, ids, agent_id, actor())
        flash(g.speaker._("{count} accounts assigned.", count=n), "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return redirect(url_for("ops_console.queue_page"))


@bp.post("/queue/callbacks/<id:request_id>")
@login_required(*CALLERS)
def handle_callback(request_id: int):
    form = request.form
    try:
        with session_scope() as db:
            scope.guard(db, CallbackRequest, request_id)
            task = db.get(CallbackRequest, request_id)
            if task is None:
                abort(404)
            date = amount = None
            if form.get("outcome") == "promise" and task.loan_id:
                try:
                    date = dt.date.fromisoformat(form.get("promise_date", ""))
                    amount = to_minor(form.get("promise_amount", ""), db.get(Loan, task.loan_id).currency)
                except (ValueError, MoneyError):
                    raise callcentre.CallCentreError(g.speaker._("A promise needs a date and an amount.")) from None
            callcentre.handle_callback(db, request_id, db.get(Agent, g.operator.id), form.get("outcome", ""),
                                       form.get("note", ""), promise_date=date, promise_amount=amount, today=today())
        flash(g.speaker._("Call saved."), "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return redirect(url_for("ops_console.queue_page"))
