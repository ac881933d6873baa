"""USSD webhook in Africa's Talking's format: form fields in, `CON ...`/`END ...` text out."""
from flask import Blueprint, Response, current_app, g, request

from gateway.ussd import session as flows
from gateway.web.auth import from_provider

bp = Blueprint("ussd", __name__)
REQUIRED = ("sessionId", "phoneNumber")
MAX_TEXT = 1000  # far beyond any real session; refuse instead of replaying megabytes
MAX_SESSION_ID = 100  # PaymentIntent.session_id holds 100; AT's ids are about 30


def _plain(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


# Only Africa's Talking may ask: the reply shows a borrower's balance and can start a payment.
bp.before_request(from_provider("at", lambda reason: _plain("END Forbidden", 403)))


@bp.post("/ussd")
def ussd():
    form = request.form
    missing = [name for name in REQUIRED if not form.get(name, "").strip()]
    if missing:
        return _plain(f"END Bad request: missing {', '.join(missing)}", 400)
    session_id = form["sessionId"].strip()
    if len(session_id) > MAX_SESSION_ID or not session_id.isprintable():
        return _plain("END Bad request: invalid sessionId", 400)
    service_code = form.get("serviceCode", "")[:40]
    if not service_code.isprintable():  # it selects the lender in a query (PostgreSQL text cannot hold NUL)
        return _plain("END Bad request: invalid serviceCode", 400)
    text = form.get("text", "")
    if len(text) > MAX_TEXT:
        return _plain("END Bad request: input too long", 400)
    # the session's snapshot, if the rate limiter already read it in its Redis round trip (gateway/limits.py)
    fetched = g.get("limits_fetched", flows.NOT_FETCHED)
    reply = flows.answer(current_app.config["GATEWAY"], session_id, form["phoneNumber"], text, fetched=fetched,
                         service_code=service_code)
    return _plain(reply.body())
