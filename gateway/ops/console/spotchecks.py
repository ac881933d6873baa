"""Spot checks: callers make the verification calls with the script in their language; managers
draw a month's sample, read its compliance report and download it (CSV, XLSX). Everything is the
staff member's own lender's: another lender's spot check or call is a 404."""
from __future__ import annotations

import io

from flask import abort, flash, g, redirect, render_template, request, send_file, url_for
from sqlmodel import select

from gateway.db import session_scope
from gateway.models import Agent, FieldPartner, SpotCheck, SpotCheckCall
from gateway.ops import reports, spotchecks
from gateway.ops.console.base import actor, bp, is_manager, month_arg, today
from gateway.web import scope
from gateway.web.console_session import login_required
from gateway.web.roles import CALLERS, MANAGERS


def _said(exc: ValueError) -> str:
    """A refusal in the manager's language (a SpotCheckError's msgid with its values; else its text)."""
    return g.speaker._(getattr(exc, "msgid", str(exc)), **getattr(exc, "values", {}))


@bp.get("/spot-checks")
@login_required(*CALLERS)
def spot_checks_page():
    with session_scope() as db:
        calls = [(call, check, loan, borrower, spotchecks.script(db, call, g.speaker))
                 for call, check, loan, borrower in spotchecks.open_calls(db, scope.lender_ids())]
        checks = []
        if is_manager():
            checks = db.exec(scope.narrow(select(SpotCheck), SpotCheck.field_partner_id)
                             .order_by(SpotCheck.month.desc(), SpotCheck.id.desc()).limit(24)).all()
    return render_template("spotchecks.html", calls=calls, checks=checks, month=month_arg(),
                           per_stratum=spotchecks.DEFAULT_PER_STRATUM, strata=spotchecks.STRATA)


@bp.post("/spot-checks/draw")
@login_required(*MANAGERS)
def draw_spot_check():
    form = request.form
    try:
        per_stratum = int(form.get("per_stratum") or spotchecks.DEFAULT_PER_STRATUM)
        seed = int(form["seed"]) if form.get("seed", "").strip() else None
    except ValueError:
        flash(g.speaker._("Sample size and seed are whole numbers."), "error")
        return redirect(url_for("ops_console.spot_checks_page"))
    try:
        with session_scope() as db:
            partner = db.get(FieldPartner, g.operator.field_partner_id)
            check, drawn = spotchecks.draw(db, partner, form.get("month", ""), per_stratum, seed, actor=actor(),
                                           redraw=form.get("redraw") == "1", today=today())
            check_id = check.id
    except ValueError as exc:
        flash(_said(exc), "error")
        return redirect(url_for("ops_console.spot_checks_page"))
    said = g.speaker._("Spot check drawn.") if drawn else g.speaker._("This month was already drawn: here it is.")
    flash(said, "ok")
    return redirect(url_for("ops_console.spot_check_page", check_id=check_id))


def _own_check(db, check_id: int) -> SpotCheck:
    check = db.get(SpotCheck, check_id)
    if check is None:
        abort(404)
    scope.own(check.field_partner_id)
    return check


@bp.get("/spot-checks/<id:check_id>")
@login_required(*MANAGERS)
def spot_check_page(check_id: int):
    with session_scope() as db:
        check = _own_check(db, check_id)
        built = spotchecks.report(db, check)
        found = spotchecks.discrepancies(db, check)
        called = db.exec(select(SpotCheckCall.id).where(SpotCheckCall.spot_check_id == check.id,
                                                        SpotCheckCall.status != "pending")).first()
    return render_template("spotcheck.html", check=check, report=built, discrepancies=found, strata=spotchecks.STRATA,
                           questions=spotchecks.QUESTIONS, labels=spotchecks.LABELS, can_redraw=called is None)


@bp.get("/spot-checks/<id:check_id>/report.<fmt>")
@login_required(*MANAGERS)
def spot_check_download(check_id: int, fmt: str):
    if fmt not in reports.FORMATS:
        abort(404)
    with session_scope() as db:
        check = _own_check(db, check_id)
        built = spotchecks.report(db, check)
    mimetype = "text/csv" if fmt == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return send_file(io.BytesIO(reports.render(built, fmt, g.speaker.lang)), mimetype=mimetype, as_attachment=True,
                     download_name=built.filename(check.month, fmt))


@bp.post("/spot-checks/calls/<id:call_id>")
@login_required(*CALLERS)
def record_spot_check_call(call_id: int):
    form = request.form
    try:
        with session_scope() as db:
            call = db.get(SpotCheckCall, call_id)
            if call is None:
                abort(404)
            _own_check(db, call.spot_check_id)
            answers = {q: form.get(q, "") for q in spotchecks.QUESTIONS}
            call = spotchecks.record_outcome(db, call_id, db.get(Agent, g.operator.id), form.get("outcome", ""),
                                             answers, form.get("note", ""))
            status = call.status
        flash(g.speaker._("Call saved: {status}.", status=g.speaker._(status)), "ok")
    except ValueError as exc:
        flash(_said(exc), "error")
    return redirect(url_for("ops_console.spot_checks_page"))
