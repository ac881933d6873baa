"""'6 Promise to pay' on the USSD menu: only in arrears, a date in the next 7 days and an amount,
in Kiswahili and English; the promise suppresses reminders until its date."""
import datetime as dt

import pytest
from sqlmodel import select

from gateway.models import AuditEvent, Promise
from gateway.ops import promises
from tests.helpers import dial

pytestmark = pytest.mark.usefixtures("frozen_clock")  # NOW, 12:00 in Nairobi


@pytest.fixture
def neema(factory):
    b = factory.borrower("Neema Akinyi", "+254712999000", language="sw")
    loan = factory.loan(b, principal="4000", count=4, rate="0.05", first_due=dt.date(2026, 11, 1))
    return b, loan  # first installment of Ksh 1,200 overdue since 1 Nov


def test_promise_in_kiswahili(client, session, neema):
    b, loan = neema
    assert "6 Ahadi ya kulipa" in dial(client, b.phone)
    assert dial(client, b.phone, "6") == (
        "CON Utalipa lini?\n1 Jumamosi 21 Nov\n2 Jumapili 22 Nov\n3 Jumatatu 23 Nov\n4 Jumanne 24 Nov\n"
        "5 Jumatano 25 Nov\n6 Alhamisi 26 Nov\n7 Ijumaa 27 Nov\n0 Menyu 00 Rudi")
    assert dial(client, b.phone, "6*3") == "CON Weka kiasi utakacholipa:\n0 Menyu 00 Rudi"
    assert dial(client, b.phone, "6*3*abc") == (
        "CON Weka kiasi kwa tarakimu tu, mfano 500.\nWeka kiasi utakacholipa:\n0 Menyu 00 Rudi")
    assert dial(client, b.phone, "6*3*900000") == (
        "CON Unaweza kulipa hadi Ksh 4,800.\nWeka kiasi utakacholipa:\n0 Menyu 00 Rudi")
    assert dial(client, b.phone, "6*3*1200") == (
        "CON Unaahidi kulipa Ksh 1,200 kufikia 23 Nov 2026.\n1 Thibitisha\n2 Ghairi\n0 Menyu 00 Rudi")
    assert session.exec(select(Promise)).all() == []  # nothing promised before confirming
    session.commit()
    end = dial(client, b.phone, "6*3*1200*1", session_id="S-PROMISE")
    assert end == "END Asante. Hakuna vikumbusho hadi 23 Nov 2026. Tafadhali lipa Ksh 1,200 kufikia siku hiyo."
    dial(client, b.phone, "6*3*1200*1", session_id="S-PROMISE")  # AT retried the hop
    (promise,) = session.exec(select(Promise)).all()
    assert (promise.loan_id, promise.promised_date, promise.amount, promise.source, promise.status) == (
        loan.id, dt.date(2026, 11, 23), 120000, "ussd", "open")
    assert promises.has_open_promise(session, loan.id, dt.date(2026, 11, 23))
    assert not promises.has_open_promise(session, loan.id, dt.date(2026, 11, 24))
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "promise.made")).one()
    assert event.actor == f"borrower:{b.id}"


def test_promise_in_english_and_cancel(client, session, john):  # noqa: F811
    b, loan = john
    assert dial(client, b.phone, "6").startswith("CON When will you pay?\n1 Sat 21 Nov\n2 Sun 22 Nov")
    assert dial(client, b.phone, "6*7") == "CON Enter the amount you will pay:\n0 Menu 00 Back"
    assert dial(client, b.phone, "6*7*1234567890") == (
        "CON Enter the amount in numbers only, e.g. 500.\nEnter the amount you will pay:\n0 Menu 00 Back")
    assert dial(client, b.phone, "6*7*500") == (
        "CON You promise to pay Ksh500 by 27 Nov 2026.\n1 Confirm\n2 Cancel\n0 Menu 00 Back")
    assert dial(client, b.phone, "6*7*500*2").startswith("CON Hello John.")
    assert dial(client, b.phone, "6*7*500*1") == (
        "END Thank you. No reminders until 27 Nov 2026. Please pay Ksh500 by then.")
    assert session.exec(select(Promise.amount)).all() == [50000]


def test_no_promise_option_when_not_in_arrears(client, factory):
    b = factory.borrower("Amina Wanjiru", "+254712345678", language="en")
    factory.loan(b, principal="4000", count=4, rate="0.05", first_due=dt.date(2026, 12, 1))
    menu = dial(client, b.phone)
    assert "Promise" not in menu
    assert dial(client, b.phone, "6").startswith("CON Invalid choice.")
