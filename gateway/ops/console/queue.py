"""The call-centre queue: who to call today, the team's progress; managers assign accounts."""
from __future__ import annotations

import datetime as dt

from flask import flash, g, redirect, render_template, request, url_for
from sqlmodel import select

from gateway.db import session_scope
from gateway.models import Agent
from gateway.ops import callcentre
from gateway.ops.console.base import actor, bp, settings, today
from gateway.web.console_session import login_required
from gateway.web.roles import CALLERS, MANAGERS, Role


@bp.get("/queue")
@login_required(*CALLERS)
def queue_page():
    day = today()
    with session_scope() as db:
        items = callcentre.work_queue(db, day, g.operator.id, only_agent=g.operator.role == Role.CALLCENTRE)
        progress = callcentre.team_progress(db, day, settings())
        agents = dict(db.exec(select(Agent.id, Agent.name)).all())
        callers = db.exec(select(Agent).where(Agent.role == Role.CALLCENTRE.value, Agent.active)
                          .order_by(Agent.name)).all()
    return render_template("queue.html", items=items[:200], total=len(items), progress=progress, agents=agents,
                           callers=callers, outcomes=callcentre.OUTCOMES, today=day,
                           max_promise=day + dt.timedelta(days=7))


@bp.post("/queue/assign")
@login_required(*MANAGERS)
def assign():
    try:
        ids = [int(x) for x in request.form.getlist("loan_id")]
        with session_scope() as db:
            n = callcentre.assign(db, ids, int(request.form.get("agent_id", "0")), actor())
        flash(g.speaker._("{count} accounts assigned.", count=n), "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return redirect(url_for("ops_console.queue_page"))
