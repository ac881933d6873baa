"""Payments HTTP: provider callbacks under /payments, operators' suspense API under /api/payments.
Thin: read the request, call the service, answer."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from gateway import inbox, phones
from gateway.db import session_scope
from gateway.models import Payment, RawCallback
from gateway.payments import operators
from gateway.providers.callbacks import PAYMENT_CALLBACKS
from gateway.web import callback_auth, scope
from gateway.web.auth import require_role
from gateway.web.roles import MANAGERS, OVERSEERS

bp = Blueprint("payments", __name__)
callbacks = Blueprint("callbacks", __name__, url_prefix="/payments")
api = Blueprint("api", __name__, url_prefix="/api/payments")


def _callback(provider: str, kind: str):
    settings = current_app.config["GATEWAY"]
    refused = callback_auth.refusal(settings, provider, request.remote_addr or "",
                                    request.headers.get("X-Callback-Token") or request.args.get("token"))
    reply = inbox.receive(settings, provider, kind, PAYMENT_CALLBACKS[(provider, kind)],
                          request.get_data(as_text=True), request.remote_addr or "", refused)
    return jsonify(reply.body), reply.status


# Safaricom refuses callback URLs containing "mpesa"/"safaricom": every M-Pesa route also
# answers under /payments/daraja/..., which is what we register and send.
for prefix in ("mpesa", "daraja"):
    callbacks.add_url_rule(f"/{prefix}/c2b/validation", f"{prefix}_c2b_validation",
                           lambda: _callback("mpesa", "c2b_validation"), methods=["POST"])
    callbacks.add_url_rule(f"/{prefix}/c2b/confirmation", f"{prefix}_c2b_confirmation",
                           lambda: _callback("mpesa", "c2b_confirmation"), methods=["POST"])
    callbacks.add_url_rule(f"/{prefix}/stk/callback", f"{prefix}_stk_callback",
                           lambda: _callback("mpesa", "stk_callback"), methods=["POST"])
    callbacks.add_url_rule(f"/{prefix}/reversal/result", f"{prefix}_reversal_result",
                           lambda: _callback("mpesa", "reversal_result"), methods=["POST"])


@callbacks.post("/africastalking/notification")
def at_notification():
    return _callback("africastalking", "notification")


def _payment_json(p) -> dict:
    return {"id": p.id, "provider": p.provider, "provider_txn_id": p.provider_txn_id, "amount": p.amount,
            "currency": p.currency, "status": p.status, "loan_id": p.loan_id, "account_ref": p.account_ref,
            "payer_phone": phones.mask(p.payer_phone) if p.payer_phone.startswith("+") else p.payer_phone,
            "note": p.note, "received_at": p.received_at.isoformat(),
            "paid_at": p.paid_at.isoformat() if p.paid_at else None}


def _operator_action(action, payment_id: int, **kwargs):
    try:
        with session_scope() as session:
            scope.guard(session, Payment, payment_id)  # another lender's (or, among several, no lender's): 404
            if "account_ref" in kwargs:
                scope.guard_account(session, kwargs["account_ref"])  # nor put on another lender's loan
            payment = action(session, payment_id, actor=g.actor, **kwargs)
            body = _payment_json(payment)
    except operators.PaymentError as exc:
        return jsonify(error=exc.error, detail=exc.detail), exc.status
    return jsonify(payment=body)


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _of_lenders(session, model, rows):
    """Rows of the staff member's lenders; one no lender can be told from only when nothing is narrowed
    (the platform role, or the database holds one lender)."""
    lenders = scope.lenders(session)
    return rows if lenders is None else [r for r in rows if scope.lender_of(session, model, r.id) in lenders]


@api.get("/suspense")
@require_role(*OVERSEERS)
def suspense():
    with session_scope() as session:
        return jsonify(payments=[_payment_json(p)
                                 for p in operators.suspense_list(session, scope.lenders(session))])


@api.post("/<id:payment_id>/assign")
@require_role(*OVERSEERS)
def assign(payment_id: int):
    account_ref = str(_body().get("account_ref") or "").strip()
    if not account_ref:
        return jsonify(error="bad_request", detail="give the loan's account_ref"), 400
    return _operator_action(operators.assign, payment_id, account_ref=account_ref)


@api.post("/<id:payment_id>/refund")
@require_role(*OVERSEERS)
def refund(payment_id: int):
    reason = str(_body().get("reason") or "").strip()
    if not reason:
        return jsonify(error="bad_request", detail="give a reason"), 400
    return _operator_action(operators.refund, payment_id, reason=reason)


@api.post("/<id:payment_id>/reverse")
@require_role(*MANAGERS)  # a posted payment is a lender's: its managers reverse it, not the platform
def reverse(payment_id: int):
    reason = str(_body().get("reason") or "").strip()
    if not reason:
        return jsonify(error="bad_request", detail="give a reason"), 400
    return _operator_action(operators.reverse_by_operator, payment_id, reason=reason)


@api.get("/callbacks")
@require_role(*OVERSEERS)
def callbacks_for_review():
    """Stored callbacks by status (rejected, failed...) for review, newest first."""
    status = request.args.get("status", "rejected")
    if status not in ("stored", "processed", "rejected", "failed"):
        return jsonify(error="bad_request", detail="status must be processed, rejected or failed"), 400
    with session_scope() as session:
        rows = _of_lenders(session, RawCallback, inbox.for_review(session, status))
        return jsonify(callbacks=[{"id": r.id, "provider": r.provider, "kind": r.kind, "source_ip": r.source_ip,
                                   "status": r.status, "error": r.error, "payment_id": r.payment_id,
                                   "attempts": r.attempts, "received_at": r.received_at.isoformat(),
                                   "body": r.body} for r in rows])


@api.post("/callbacks/<id:raw_id>/retry")
@require_role(*OVERSEERS)
def retry_callback(raw_id: int):
    """Process a failed callback again now (the sweeper also does, every few minutes)."""
    with session_scope() as session:
        scope.guard(session, RawCallback, raw_id)
    outcome = inbox.retry(current_app.config["GATEWAY"], raw_id, PAYMENT_CALLBACKS)
    return jsonify(outcome=outcome), (200 if outcome != "nothing to do" else 409)


bp.register_blueprint(callbacks)
bp.register_blueprint(api)
