"""Commission statements: a manager generates, approves or returns them and exports the approved ones
as Finance's payout file; field and call-centre agents see only their own."""
from __future__ import annotations

import io

from flask import flash, g, redirect, render_template, request, send_file, url_for

from gateway.db import session_scope
from gateway.models import CommissionStatement
from gateway.ops import payouts
from gateway.ops.console.base import actor, bp, is_manager, month_arg, settings
from gateway.ops.payouts_api import MIMETYPES
from gateway.web import scope
from gateway.web.console_session import login_required
from gateway.web.roles import MANAGERS, ROLES, Role


@bp.get("/statements")
@login_required(*ROLES, Role.PLATFORM)
def statements_page():
    month = month_arg()
    try:
        with session_scope() as db:
            items = payouts.visible(db, g.operator, month, lenders=scope.lenders(db))
    except ValueError as exc:
        flash(str(exc), "error")
        items = []
    return render_template("statements.html", statements=items, month=month, can_decide=is_manager())


def _back():
    return redirect(url_for("ops_console.statements_page", month=request.form.get("month") or None))


@bp.post("/statements/generate")
@login_required(*MANAGERS)
def generate_statements():
    try:
        with session_scope() as db:
            made = payouts.generate(db, request.form.get("month", ""), settings(), actor(), scope.lenders(db))
        flash(g.speaker._("{count} statements.", count=len(made)), "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return _back()


@bp.post("/statements/<id:statement_id>/decide")
@login_required(*MANAGERS)
def decide_statement(statement_id: int):
    try:
        with session_scope() as db:
            scope.guard(db, CommissionStatement, statement_id)
            if request.form.get("decision") == "approve":
                payouts.approve(db, statement_id, g.operator)
                flash(g.speaker._("Statement approved."), "ok")
            else:
                payouts.send_back(db, statement_id, g.operator, request.form.get("note", ""))
                flash(g.speaker._("Statement sent back."), "ok")
    except (ValueError, payouts.NotAllowed, payouts.NotFound) as exc:
        flash(exc.args[0], "error")
    return _back()


@bp.post("/statements/payout")
@login_required(*MANAGERS)
def payout_statements():
    fmt = request.form.get("format", "csv")
    try:
        if fmt not in MIMETYPES:
            raise payouts.PayoutError("format must be csv or xlsx")
        with session_scope() as db:
            lenders = scope.lenders(db)
            batch = payouts.pay(db, actor(), request.form.get("currency", "KES"), request.form.get("month") or None,
                                lenders)
            db.flush()
            data = payouts.render(payouts.batch_rows(db, batch, lenders), fmt)
    except ValueError as exc:
        flash(str(exc), "error")
        return _back()
    return send_file(io.BytesIO(data), mimetype=MIMETYPES[fmt], as_attachment=True,
                     download_name=f"commission-payout-{batch}.{fmt}")
