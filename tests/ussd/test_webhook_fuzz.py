"""Whatever Africa's Talking (or anyone) posts to /ussd: never a 500, always a CON/END screen
the handset can show, and nothing stored that the menu could not have stored."""
import datetime as dt
import string

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlmodel import func, select

from gateway.app import create_app
from gateway.i18n import languages
from gateway.models import AuditEvent, Borrower, CallbackRequest, LedgerEntry, Loan, Payment, PaymentIntent

PHONES = ["+254712345678", "0712345678", "254722000111", "+254733000222"]  # last one is not registered
MENU_KEYS = ["1", "2", "3", "4", "5", "8", "98", "0", "00", "", " 1 ", "9", "500", "1200", "99999999999", "abc",
             "\u0661\u0662"]

menu_walks = st.lists(st.sampled_from(MENU_KEYS), max_size=12).map("*".join)
any_text = st.one_of(menu_walks, st.text(max_size=300), st.text(alphabet=string.digits + "*#", max_size=1200))
any_phone = st.one_of(st.sampled_from(PHONES), st.text(max_size=40), st.from_regex(r"\+?[0-9 ]{0,16}", fullmatch=True))
any_session = st.one_of(st.from_regex(r"ATUid_[0-9a-f]{1,12}", fullmatch=True), st.text(max_size=150))


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=any_text, phone=any_phone, session_id=any_session,
       extra=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=3))
def test_any_ussd_request_gets_a_screen_and_stores_nothing_inconsistent(fuzz_client, session, text, phone, session_id,
                                                                        extra):
    form = {**extra, "sessionId": session_id, "serviceCode": "*384*1234#", "phoneNumber": phone,
            "networkCode": "63902", "text": text}
    res = fuzz_client.post("/ussd", data=form)
    body = res.get_data(as_text=True)
    assert res.status_code in (200, 400), (res.status_code, body)
    assert res.mimetype == "text/plain"
    assert body.startswith(("CON ", "END ")) and len(body) <= 182
    if res.status_code == 400:
        assert body.startswith("END ")

    session.expire_all()
    assert session.exec(select(func.count()).select_from(Borrower)).one() == 3  # USSD never creates borrowers
    assert session.exec(select(func.count()).select_from(Payment)).one() == 0  # nor money
    assert session.exec(select(func.count()).select_from(LedgerEntry)).one() == 0
    for intent in session.exec(select(PaymentIntent)):
        loan = session.get(Loan, intent.loan_id)
        owner = session.get(Borrower, loan.borrower_id)
        assert intent.phone == owner.phone and 0 < intent.amount <= 150_000_00 and intent.session_id
    for request in session.exec(select(CallbackRequest)):
        assert request.source_ref.startswith("ussd:") and request.reason == "ussd_request"
    for borrower in session.exec(select(Borrower)):
        assert borrower.language in languages()  # languages are data: any catalogue the menu offers
    assert {e.action for e in session.exec(select(AuditEvent))} <= {
        "borrower.created", "loan.created", "payment_intent.created", "callback.requested", "borrower.language_changed"}


def test_session_ids_the_database_cannot_hold_are_refused_cleanly(fuzz_client):
    for bad in ("A" * 101, "ATUid_\x00x"):
        res = fuzz_client.post("/ussd", data={"sessionId": bad, "phoneNumber": "+254712345678", "text": "0"})
        assert res.status_code == 400 and res.get_data(as_text=True).startswith("END ")


import pytest  # noqa: E402


@pytest.fixture
def fuzz_client(settings, factory):
    # Rate limits would soon answer every example with 429; they have their own tests.
    app = create_app(settings.with_(rate_limits_enabled=False))
    for name, phone, lang, loans in (("Amina Wanjiru", "+254712345678", "sw", 1),
                                     ("John Otieno", "+254722000111", "en", 2),
                                     ("Zawadi Closed", "+254744000333", "sw", 0)):
        b = factory.borrower(name, phone, language=lang)
        for k in range(max(loans, 1)):
            factory.loan(b, principal="4000", count=4, first_due=dt.date(2026, 11, 1) + dt.timedelta(days=30 * k))
    return app.test_client()
