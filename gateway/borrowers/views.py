"""Field agents' API: onboard a borrower with their loan, and (re)send the welcome."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, g, jsonify, request
from sqlmodel import select

from gateway.borrowers import catalogue, onboarding
from gateway.db import session_scope
from gateway.ledger import schedule
from gateway.messaging import welcome
from gateway.models import Borrower, FieldPartner, Loan, LoanStatus, Product
from gateway.money import MoneyError, to_minor
from gateway.text import TextError, text
from gateway.web import scope
from gateway.web.auth import require_role

bp = Blueprint("agents", __name__, url_prefix="/api/agents")

class BadRequest(ValueError):
    pass


def _loan_rows(spec: dict, product: Product, today: dt.date) -> tuple[int, list[schedule.Row]]:
    currency = product.currency
    try:
        principal = to_minor(spec["principal"], currency)  # a float is refused there: money is never float
        rate = Decimal(str(spec.get("rate_per_period", "0")))
        fee = to_minor(spec.get("fee_per_installment", "0"), currency)
        first_due = dt.date.fromisoformat(str(spec["first_due_date"]))
        count = int(spec["installments"])
    except KeyError as exc:
        raise BadRequest(f"loan.{exc.args[0]} is required") from None
    except (ValueError, TypeError, OverflowError, InvalidOperation, MoneyError) as exc:
        raise BadRequest(f"invalid loan: {exc}") from None
    catalogue.check(product, principal, count, first_due, today)
    rows = schedule.generate(principal, rate, count, first_due, spec.get("frequency") or product.frequency,
                             spec.get("method", "flat"), fee,
                             unit=catalogue.unit(product))
    return principal, rows


@bp.post("/borrowers")
@require_role("field", "admin")
def onboard_borrower():
    """JSON: {name, phone, language, national_id?, branch?, timezone?, loan: {product, principal,
    installments, first_due_date, frequency?, method?, rate_per_period?, fee_per_installment?}}.
    The product is one of the lender's catalogue; its bounds and rounding apply (gateway/openapi.json)."""
    settings = current_app.config["GATEWAY"]
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("loan"), dict):
        return jsonify(error="bad_request", detail="a JSON object with a loan object is required"), 400
    try:
        with session_scope(settings) as session:
            partner = session.get(FieldPartner, g.agent.field_partner_id)
            borrower = onboarding.create_borrower(
                session, partner, text(body.get("name"), "name", limit=120), str(body.get("phone", "")),
                text(body.get("language"), "language", limit=8),
                timezone=text(body.get("timezone"), "timezone", limit=40, default=None),
                national_id=text(body.get("national_id"), "national_id", limit=40, default=None),
                branch=text(body.get("branch"), "branch", limit=80), agent_id=g.agent.id, actor=g.actor)
            spec = body["loan"]
            code = text(spec.get("product"), "loan.product", limit=60)
            if not code:
                raise BadRequest("loan.product is required")
            product = catalogue.find(session, partner.id, code)
            onboarding.check_rail(borrower, onboarding.currency_for(borrower.country))
            if product.currency != onboarding.currency_for(borrower.country):
                raise BadRequest(f"a {product.code} is lent in {product.currency}, "
                                 f"not to a borrower in {borrower.country}")
            today = dt.datetime.now(ZoneInfo(borrower.timezone)).date()
            principal, rows = _loan_rows(spec, product, today)
            loan = onboarding.create_loan(session, borrower, product.code, principal, product.currency, rows,
                                          disbursed_on=today, ref_prefix=product.account_prefix, actor=g.actor)
            message, call = welcome.start(session, borrower, loan, settings, actor=g.actor)
            answer = dict(borrower_id=borrower.id, loan_id=loan.id, account_ref=loan.account_ref,
                          welcome=dict(message_id=message.id, call_id=call.id))
    except (BadRequest, TextError, onboarding.OnboardingError, catalogue.ProductError, schedule.ScheduleError) as exc:
        return jsonify(error="bad_request", detail=str(exc)), 400
    return jsonify(answer), 201


@bp.post("/borrowers/<id:borrower_id>/welcome")
@require_role("field", "admin")
def resend_welcome(borrower_id: int):
    settings = current_app.config["GATEWAY"]
    with session_scope(settings) as session:
        borrower = session.get(Borrower, borrower_id)
        if borrower is None or not scope.sees(borrower.field_partner_id):
            return jsonify(error="not_found", detail="no such borrower"), 404
        loan = session.exec(select(Loan).where(Loan.borrower_id == borrower.id, Loan.status == LoanStatus.active)
                            .order_by(Loan.created_at.desc(), Loan.id.desc())).first()
        if loan is None:
            return jsonify(error="no_active_loan", detail="the borrower has no active loan to welcome"), 409
        message, call = welcome.start(session, borrower, loan, settings, actor=g.actor)
        answer = dict(borrower_id=borrower.id, loan_id=loan.id, welcome=dict(message_id=message.id, call_id=call.id))
    return jsonify(answer), 202
