"""Whatever shape a provider (or anyone) posts to our callbacks: never a 500, every payment
callback kept for review, and nothing stored that breaks the money rules."""
import json

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import select

from gateway.models import LedgerEntry, Payment, RawCallback
from tests.helpers import AT_TOKEN, TOKEN, c2b

FUZZ = hsettings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)


@st.composite
def mangled_c2b(draw):
    """Safaricom's documented body with fields removed, retyped or replaced by anything."""
    body = c2b(trans_id=draw(st.from_regex(r"[A-Z0-9]{10}", fullmatch=True)))
    for key in draw(st.lists(st.sampled_from(sorted(body)), max_size=4, unique=True)):
        if draw(st.booleans()):
            del body[key]
        else:
            body[key] = draw(json_values)
    return body


def stk_shaped(value):
    return {"Body": {"stkCallback": value}}


payment_bodies = st.one_of(
    json_values.map(json.dumps),
    mangled_c2b().map(json.dumps),
    json_values.map(stk_shaped).map(json.dumps),
    st.text(max_size=200),  # not JSON at all
)
PAYMENT_CALLBACKS = [
    ("/payments/mpesa/c2b/validation", TOKEN), ("/payments/mpesa/c2b/confirmation", TOKEN),
    ("/payments/mpesa/stk/callback", TOKEN), ("/payments/daraja/reversal/result", TOKEN),
    ("/payments/africastalking/notification", AT_TOKEN),
]


def money_rules_hold(session) -> None:
    session.commit()  # end the read snapshot (SQLite) before looking again
    for payment in session.exec(select(Payment)).all():
        assert payment.amount > 0 and len(payment.currency) == 3
        allocated = session.exec(select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                                 .where(LedgerEntry.payment_id == payment.id)).one()
        assert allocated in (0, payment.amount), (payment, allocated)


@FUZZ
@given(endpoint=st.sampled_from(PAYMENT_CALLBACKS), body=payment_bodies)
def test_payment_callbacks_answer_every_shape_and_keep_it(pay_client, session, endpoint, body):
    path, token = endpoint
    stored_before = session.exec(select(func.count()).select_from(RawCallback)).one()
    res = pay_client.post(path, data=body.encode(), content_type="application/json",
                          headers={"X-Callback-Token": token})
    assert res.status_code < 500, (path, body, res.get_data(as_text=True))
    assert res.is_json
    session.commit()
    assert session.exec(select(func.count()).select_from(RawCallback)).one() == stored_before + 1
    money_rules_hold(session)


form_values = st.dictionaries(
    st.sampled_from(["id", "status", "phoneNumber", "networkCode", "failureReason", "retryCount", "from", "to",
                     "text", "date", "linkId", "senderId", "isActive", "sessionId", "direction", "callerNumber",
                     "dtmfDigits", "durationInSeconds", "callSessionState", "hangupCause"]) | st.text(max_size=10),
    st.text(max_size=60) | st.sampled_from(["Success", "Failed", "STOP", "SALIO", "+254712345678", "1", "0"]),
    max_size=8)


@FUZZ
@given(path=st.sampled_from(["/sms/delivery-report", "/sms/inbound", "/sms/opt-out", "/voice/welcome"]),
       form=form_values)
def test_sms_and_voice_callbacks_never_fail_with_a_500(pay_client, session, path, form):
    res = pay_client.post(path, data=form)
    assert res.status_code < 500, (path, form, res.get_data(as_text=True))
