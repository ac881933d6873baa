"""Pursuit stopped: decide. Loans whose reminders stopped because pursuing them costs what they are expected to
recover (gateway/ops/costs.py), for a manager to write off, restructure or send a field visit."""
from __future__ import annotations

from decimal import Decimal

from flask import abort, flash, g, redirect, render_template, request, url_for

from gateway.db import session_scope
from gateway.ops import pursuit
from gateway.ops.console.base import actor, bp, parse_day
from gateway.web import scope
from gateway.web.console_session import login_required
from gateway.web.roles import MANAGERS


@bp.get("/pursuit")
@login_required(*MANAGERS)
def pursuit_page():
    with session_scope() as db:
        items = pursuit.stopped_loans(db, scope.lender_ids())
    return render_template("pursuit.html", items=items, decisions=pursuit.DECISIONS)


@bp.post("/pursuit/<id:stop_id>/decide")
@login_required(*MANAGERS)
def decide_pursuit(stop_id: int):
    form, plan = request.form, None
    decision = form.get("decision", "")
    try:
        if decision == "restructure":
            try:
                plan = pursuit.Restructure(int(form.get("count", "")), parse_day(form.get("first_due", "")),
                                           form.get("frequency", "monthly"), Decimal(form.get("rate") or "0"))
            except (ValueError, ArithmeticError):
                raise pursuit.PursuitError(
                    g.speaker._("Give the number of installments, the first due date and the rate.")) from None
        with session_scope() as db:
            pursuit.decide(db, stop_id, decision, actor(), form.get("note", ""), restructure=plan,
                           partner_ids=scope.lender_ids())
        flash(g.speaker._("Decision recorded: {decision}.", decision=g.speaker._(decision)), "ok")
    except LookupError:
        abort(404)
    except ValueError as exc:
        flash(str(exc), "error")
    return redirect(url_for("ops_console.pursuit_page"))
