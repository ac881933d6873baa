"""Staff API for PAYG devices: agents register a device at installation, operators issue codes
by hand. Thin: parse and validate, call the service, answer. Device keys are never returned."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request
from sqlmodel import select

from gateway.db import session_scope
from gateway.models import Device, Loan, PaygToken
from gateway.money import MoneyError, from_minor, to_minor
from gateway.payg import service
from gateway.text import TextError, text
from gateway.web import scope
from gateway.web.auth import require_role
from gateway.web.roles import MANAGERS, Role

bp = Blueprint("payg", __name__)


def _error(status: int, error: str, detail: str):
    return jsonify(error=error, detail=detail), status


def _body() -> dict | None:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


def _device_json(device: Device, loan: Loan) -> dict:
    return dict(serial=device.serial, loan_id=loan.id, account_ref=loan.account_ref,
                daily_rate=str(from_minor(device.daily_rate, loan.currency)), currency=loan.currency,
                restricted_digits=device.restricted_digits, token_count=device.token_count,
                days_credited=device.days_credited, unlocked=device.payg_disabled)


def _token_json(token: PaygToken, device: Device) -> dict:
    return dict(serial=device.serial, count=token.count, kind=token.kind, days=token.days,
                code=token.token, code_grouped=service.group_code(token.token), reason=token.reason)


@bp.post("/api/agents/loans/<id:loan_id>/device")
@require_role(Role.FIELD, Role.ADMIN)
def register_device(loan_id: int):
    body = _body()
    if body is None:
        return _error(400, "invalid", "a JSON object is required")
    restricted = body.get("restricted_digits", False)
    if not isinstance(restricted, bool):
        return _error(400, "invalid", "restricted_digits must be true or false")
    rate = body.get("daily_rate")
    if not isinstance(rate, (str, int)) or isinstance(rate, bool):
        return _error(400, "invalid", "daily_rate is required, e.g. \"50\" or \"50.00\"")
    try:
        serial = text(body.get("serial"), "serial")
    except TextError as exc:
        return _error(400, "invalid", str(exc))
    with session_scope(current_app.config["GATEWAY"]) as session:
        loan = session.get(Loan, loan_id)
        # Staff work only on their own lender's borrowers (admins too); say "not found" otherwise.
        if loan is None or not scope.sees(scope.lender_of(session, Loan, loan_id)):
            return _error(404, "not_found", f"no loan {loan_id}")
        try:
            daily_rate = to_minor(rate, loan.currency)
            device = service.register_device(
                session, loan, serial, body.get("secret_key"), daily_rate,
                restricted_digits=restricted, starting_code=body.get("starting_code"),
                agent_id=g.agent.id, actor=g.actor)
        except service.Conflict as exc:
            session.rollback()
            return _error(409, "conflict", str(exc))
        except (service.PaygError, MoneyError) as exc:
            session.rollback()
            return _error(400, "invalid", str(exc))
        return jsonify(device=_device_json(device, loan)), 201


@bp.post("/api/ops/devices/<serial>/tokens")
@require_role(*MANAGERS)
def issue_token(serial: str):
    body = _body()
    if body is None:
        return _error(400, "invalid", "a JSON object is required")
    try:
        serial, kind = text(serial, "serial"), text(body.get("kind"), "kind", default="add_time")
        reason = text(body.get("reason"), "reason", default=None)
    except TextError as exc:
        return _error(400, "invalid", str(exc))
    with session_scope(current_app.config["GATEWAY"]) as session:
        device = session.exec(select(Device).where(Device.serial == serial)).first()
        if device is not None and not scope.sees(scope.lender_of(session, Loan, device.loan_id)):
            return _error(404, "not_found", f"no device {serial}")  # another lender's
        try:
            token = service.issue_manual_token(session, serial, kind, days=body.get("days", 0), reason=reason,
                                               actor=g.actor)
        except service.DeviceNotFound as exc:
            session.rollback()
            return _error(404, "not_found", str(exc))
        except service.Conflict as exc:
            session.rollback()
            return _error(409, "conflict", str(exc))
        except service.PaygError as exc:
            session.rollback()
            return _error(400, "invalid", str(exc))
        device = session.get(Device, token.device_id)
        return jsonify(token=_token_json(token, device)), 201
