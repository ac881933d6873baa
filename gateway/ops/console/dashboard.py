"""The managers' dashboard: PAR by dimension, its trend, arrears buckets."""
from __future__ import annotations

from flask import g, render_template, request
from sqlmodel import select

from gateway.db import session_scope
from gateway.models import Agent, FieldPartner
from gateway.ops import charts, flags, portfolio
from gateway.ops.console.base import bp, today
from gateway.web import scope
from gateway.web.console_session import login_required
from gateway.web.roles import OVERSEERS


@bp.get("/dashboard")
@login_required(*OVERSEERS)
def dashboard():
    day = today()
    by = request.args.get("by", "field_partner")
    if by not in portfolio.DIMENSIONS:
        by = "field_partner"
    with session_scope() as db:  # a lender's managers: their lender; the platform role: every lender
        lenders = scope.lenders(db)
        rows = portfolio.loan_arrears(db, day, lenders=lenders)
        trend = portfolio.par_trend(db, portfolio.month_ends(day, 5), lenders)
        table = portfolio.par_table(rows, by)
        names = {"field_partner": dict(db.exec(scope.narrow(select(FieldPartner.id, FieldPartner.name),
                                                            FieldPartner.id)).all()),
                 "agent": dict(db.exec(scope.narrow(select(Agent.id, Agent.name), Agent.field_partner_id)).all())}
        open_flags = len(flags.open_flags(db, lenders=lenders))
    buckets = portfolio.bucket_table(rows)
    return render_template("dashboard.html", today=day, by=by, table=table, names=names.get(by, {}),
                           whole=portfolio.par_table(rows), buckets=buckets, open_flags=open_flags,
                           trend_chart=charts.par_trend(trend, g.speaker),
                           bucket_chart=charts.buckets(buckets, g.speaker), dimensions=portfolio.DIMENSIONS)
