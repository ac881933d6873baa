"""Africa's Talking SMS callbacks. Thin: the adapter reads the post, messaging acts, we answer.

AT retries any callback not answered 200 for about 10 minutes, so everything we could store is
answered 200 (duplicates included); only a malformed post gets a 400, and it is kept for review.
A post without AT's token or allowlisted address gets a 403 (gateway.web.auth.from_provider).
"""
from flask import Blueprint, current_app, jsonify, request

from gateway import inbox
from gateway.db import session_scope
from gateway.messaging import inbound as incoming
from gateway.providers.africastalking import sms_callbacks as at
from gateway.web.auth import forbidden_json, from_provider

bp = Blueprint("sms", __name__, url_prefix="/sms")
bp.before_request(from_provider("at", forbidden_json))  # a forged STOP or report would change a borrower's data


def _handle(source: str, handler):
    settings = current_app.config["GATEWAY"]
    form = request.form.to_dict()
    try:
        inbox.read_form(form)
        with session_scope(settings) as session:
            result = handler(session, form, settings)
    except inbox.CallbackError as exc:
        with session_scope(settings) as session:
            inbox.reject_form(session, source, str(exc), form)
        return jsonify(error="bad_request", detail=str(exc)), 400
    return jsonify(status="ok", result=result), 200


@bp.post("/delivery-report")
def delivery_report():
    return _handle("at.sms.delivery-report",
                   lambda s, form, c: incoming.delivery_report(s, at.delivery_report(form), c)[0])


@bp.post("/inbound")
def inbound():
    return _handle("at.sms.inbound", lambda s, form, c: incoming.inbound_sms(s, at.inbound(form, c.default_country)))


@bp.post("/opt-out")
def opt_out():
    return _handle("at.sms.opt-out", lambda s, form, c: incoming.bulk_opt_out(s, *at.opt_out(form, c.default_country)))
