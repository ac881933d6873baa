"""`/api/ops/commissions/statements` and `/payouts`: commission statements approved by a manager and
paid to Finance in an M-Pesa bulk (B2C) file. Registered on the ops API blueprint (gateway.ops.api)."""
from __future__ import annotations

import io

from flask import g, jsonify, request, send_file

from gateway.db import session_scope
from gateway.models import CommissionStatement
from gateway.ops import payouts
from gateway.ops.api import _body, _settings, bp, plain
from gateway.web import scope
from gateway.web.auth import staff
from gateway.web.roles import MANAGERS, STAFF, Role

MIMETYPES = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@bp.errorhandler(payouts.NotAllowed)
def _forbidden(exc):
    return jsonify(error="forbidden", detail=str(exc)), 403


@bp.errorhandler(payouts.NotFound)
def _unknown(exc):
    return jsonify(error="not_found", detail=exc.args[0]), 404


@bp.errorhandler(payouts.StatementConflict)
def _conflict(exc):
    return jsonify(error="conflict", detail=str(exc)), 409


def _text(data: dict, name: str, default: str = "") -> str:
    value = data.get(name, default)
    if not isinstance(value, str):
        raise payouts.PayoutError(f"{name} must be text")
    return value


@bp.get("/commissions/statements")
@staff(*STAFF, Role.PLATFORM)
def list_statements():  # field and call-centre agents see only their own
    with session_scope() as s:
        return jsonify(plain({"statements": payouts.visible(s, g.agent, request.args.get("month"),
                                                              request.args.get("status"), scope.lenders(s))}))


@bp.post("/commissions/statements/generate")
@staff(*MANAGERS)
def generate_statements():
    month = _text(_body(), "month")
    with session_scope() as s:
        made = payouts.generate(s, month, _settings(), f"agent:{g.agent.id}", scope.lenders(s))
        return jsonify(plain({"month": month, "statements": [payouts.as_dict(s, st) for st in made]}))


@bp.post("/commissions/statements/<id:statement_id>/approve")
@staff(*MANAGERS)
def approve_statement(statement_id: int):
    with session_scope() as s:
        scope.guard(s, CommissionStatement, statement_id)
        return jsonify(plain(payouts.as_dict(s, payouts.approve(s, statement_id, g.agent))))


@bp.post("/commissions/statements/<id:statement_id>/return")
@staff(*MANAGERS)
def return_statement(statement_id: int):
    note = _text(_body(), "note")
    with session_scope() as s:
        scope.guard(s, CommissionStatement, statement_id)
        return jsonify(plain(payouts.as_dict(s, payouts.send_back(s, statement_id, g.agent, note))))


@bp.post("/commissions/payouts")
@staff(*MANAGERS)
def make_payout():
    data = _body()
    currency, month = _text(data, "currency", "KES"), _text(data, "month") or None
    with session_scope() as s:
        lenders = scope.lenders(s)
        batch = payouts.pay(s, f"agent:{g.agent.id}", currency, month, lenders)
        s.flush()
        return jsonify({"batch": batch, "rows": payouts.batch_rows(s, batch, lenders)}), 201


@bp.get("/commissions/payouts/<batch>")
@staff(*MANAGERS)
def payout_file(batch: str):
    fmt = request.args.get("format", "csv")
    if fmt not in MIMETYPES:
        raise payouts.PayoutError("format must be csv or xlsx")
    with session_scope() as s:
        data = payouts.render(payouts.batch_rows(s, batch, scope.lenders(s)), fmt)
    return send_file(io.BytesIO(data), mimetype=MIMETYPES[fmt], as_attachment=True,
                     download_name=f"commission-payout-{batch}.{fmt}")
