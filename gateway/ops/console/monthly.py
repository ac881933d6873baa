"""Monthly reports (CSV, XLSX) and commissions; agents see only their own commissions."""
from __future__ import annotations

import io

from flask import abort, flash, g, redirect, render_template, send_file, url_for

from gateway.db import session_scope
from gateway.ops import commissions, reports
from gateway.ops.console.base import bp, is_overseer, month_arg, settings
from gateway.web import scope
from gateway.web.console_session import login_required
from gateway.web.roles import ROLES, Role


@bp.get("/reports")
@login_required(*ROLES, Role.PLATFORM)
def reports_page():
    names = list(reports.REPORTS) if is_overseer() else ["commissions"]
    return render_template("reports.html", names=names, month=month_arg())


@bp.get("/reports/<name>.<fmt>")
@login_required(*ROLES, Role.PLATFORM)
def download(name: str, fmt: str):
    if name not in reports.REPORTS or fmt not in reports.FORMATS:
        abort(404)
    mine = not is_overseer()
    if mine and name != "commissions":
        return render_template("forbidden.html"), 403
    month = month_arg()
    try:
        with session_scope() as db:
            kw = {"agent_id": g.operator.id} if mine else {}  # agents get only their own commissions
            lenders = scope.lenders(db)  # their lender's; the platform role: every lender, lender as a column
            report = reports.build(db, name, month, settings(), lenders=lenders,
                                   by_lender=scope.lender_ids() is None, **kw)
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for("ops_console.reports_page"))
    mimetype = "text/csv" if fmt == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return send_file(io.BytesIO(reports.render(report, fmt, g.speaker.lang)), mimetype=mimetype, as_attachment=True,
                     download_name=report.filename(month, fmt))


@bp.get("/commissions")
@login_required(*ROLES, Role.PLATFORM)
def commissions_page():
    month = month_arg()
    try:
        with session_scope() as db:
            agents = commissions.commissions(db, month, settings(), None if is_overseer() else g.operator.id,
                                             scope.lenders(db))
    except ValueError as exc:
        flash(str(exc), "error")
        agents = []
    return render_template("commissions.html", agents=agents, month=month)
