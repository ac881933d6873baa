"""The borrower's USSD menu, asserted by the screens a borrower sees, in English and Kiswahili."""
import datetime as dt

import pytest
from rq import Queue
from sqlmodel import select

from gateway import i18n, ledger
from gateway.messaging import sms_encoding
from gateway.models import AuditEvent, Borrower, CallbackRequest, Payment, PaymentIntent
from gateway.queue import get_redis
from tests.helpers import NOW, dial

pytestmark = pytest.mark.usefixtures("frozen_clock")  # NOW, 12:00 in Nairobi


@pytest.fixture
def amina(factory):
    b = factory.borrower("Amina Wanjiru", "+254712345678", language="sw")
    loan = factory.loan(b, principal="4000", count=4, rate="0.05", first_due=dt.date(2026, 12, 1))
    return b, loan  # 4 x (1,000 principal + 200 interest), from 1 Dec 2026


def test_main_menu_in_kiswahili_and_english(client, amina, john):
    assert dial(client, "+254712345678") == (
        f"CON Habari Amina. Mkopo {amina[1].account_ref}\n1 Salio\n2 Malipo yajayo\n3 Lipa sasa\n"
        "4 Malipo ya mwisho\n5 Lugha\n8 Nipigie simu")
    assert dial(client, "+254722000111") == (
        f"CON Hello John. Loan {john[1].account_ref}\n1 Balance\n2 Next payment\n3 Pay now\n"
        "4 Last payments\n5 Language\n6 Promise to pay\n8 Call me back")  # in arrears: may promise


def test_phone_in_local_format_finds_the_borrower(client, amina):
    assert dial(client, "0712 345 678").startswith("CON Habari Amina")


def test_balance_shows_outstanding_arrears_and_credit(client, amina, john):
    assert dial(client, "+254712345678", "1") == (
        f"CON Mkopo {amina[1].account_ref}\nSalio: Ksh 4,800\n0 Menyu 00 Rudi")
    assert dial(client, "+254722000111", "1") == (
        f"CON Loan {john[1].account_ref}\nBalance: Ksh4,800\nIn arrears: Ksh1,200\n0 Menu 00 Back")


def test_next_payment_in_borrower_language_and_timezone(client, amina, john):
    assert dial(client, "+254712345678", "2") == "CON Malipo yajayo: Ksh 1,200 kufikia 1 Des 2026.\n0 Menyu 00 Rudi"
    assert dial(client, "+254722000111", "2") == (
        "CON Overdue since 1 Nov 2026: Ksh1,200. Please pay now.\nNext payment: Ksh1,200 due on 1 Dec 2026.\n"
        "0 Menu 00 Back")


def test_balance_after_payments_and_credit(client, session, john):
    b, loan = john
    for txn, amount in (("P1", 500000), ("P2", 10000)):  # pays everything, 100 over
        p = Payment(provider="manual", provider_txn_id=txn, amount=amount, currency="KES",
                    paid_at=NOW - dt.timedelta(days=int(txn[1])))
        session.add(p)
        session.flush()
        ledger.post_payment(session, p, loan.id)
    session.commit()
    assert dial(client, b.phone, "1") == f"CON Loan {loan.account_ref}\nBalance: Ksh0\nCredit: Ksh300\n0 Menu 00 Back"
    assert dial(client, b.phone, "4") == (
        "CON Last payments:\n19 Nov 2026 Ksh5,000\n18 Nov 2026 Ksh100\n0 Menu 00 Back")
    assert dial(client, b.phone, "2") == "CON Nothing is due. Thank you for paying!\n0 Menu 00 Back"
    assert dial(client, b.phone, "3") == "CON Your loan is fully paid. Thank you!\n0 Menu 00 Back"


def test_last_payments_when_there_are_none(client, amina):
    assert dial(client, amina[0].phone, "4") == "CON Bado hakuna malipo.\n0 Menyu 00 Rudi"


def test_pay_now_suggested_amount_records_one_intent_and_queues_the_checkout(client, session, amina):
    b, loan = amina
    assert dial(client, b.phone, "3") == "CON Lipa sasa\n1 Lipa Ksh 1,200\n2 Kiasi kingine\n0 Menyu 00 Rudi"
    assert dial(client, b.phone, "3*1") == (
        f"CON Lipa Ksh 1,200 kwa mkopo {loan.account_ref} kutoka +254712345678?\n"
        "1 Thibitisha\n2 Ghairi\n0 Menyu 00 Rudi")
    final = dial(client, b.phone, "3*1*1", session_id="ATUid_pay1")
    assert final == "END Utapokea ombi la M-Pesa la Ksh 1,200. Weka PIN yako kulipa."
    # Africa's Talking retrying the same hop must not create a second payment request
    assert dial(client, b.phone, "3*1*1", session_id="ATUid_pay1") == final
    intents = session.exec(select(PaymentIntent)).all()
    assert [(i.loan_id, i.amount, i.currency, i.phone, i.status) for i in intents] == [
        (loan.id, 120000, "KES", "+254712345678", "pending")]
    jobs = Queue("payments", connection=get_redis()).jobs
    assert [(j.func_name, j.args) for j in jobs] == [("gateway.workers.payments.start_stk_push", (intents[0].id,))]


def test_pay_now_arrears_are_suggested_first(client, john):
    assert dial(client, john[0].phone, "3") == "CON Pay now\n1 Pay Ksh1,200\n2 Other amount\n0 Menu 00 Back"


@pytest.mark.parametrize("typed,error_en,error_sw", [
    ("abc", "Enter the amount in numbers only, e.g. 500.", "Weka kiasi kwa tarakimu tu, mfano 500."),
    ("12.5", "Enter the amount in numbers only, e.g. 500.", "Weka kiasi kwa tarakimu tu, mfano 500."),
    ("00000", "The amount must be more than zero.", "Kiasi lazima kiwe zaidi ya sifuri."),
    ("9" * 200, "Enter the amount in numbers only, e.g. 500.", "Weka kiasi kwa tarakimu tu, mfano 500."),
    ("5000", "The most you can pay is Ksh4,800.", "Unaweza kulipa hadi Ksh 4,800."),
])
def test_pay_other_amount_refuses_bad_amounts_and_asks_again(client, amina, john, typed, error_en, error_sw):
    assert dial(client, john[0].phone, f"3*2*{typed}") == f"CON {error_en}\nEnter the amount to pay:\n0 Menu 00 Back"
    assert dial(client, amina[0].phone, f"3*2*{typed}") == f"CON {error_sw}\nWeka kiasi cha kulipa:\n0 Menyu 00 Rudi"
    # after the error, a good amount still works in the same session
    assert dial(client, john[0].phone, f"3*2*{typed}*700").startswith("CON Pay Ksh700 for loan")


def test_cancel_returns_to_main_menu_without_a_payment(client, session, john):
    assert dial(client, john[0].phone, "3*2*700*2").startswith("CON Hello John.")
    assert session.exec(select(PaymentIntent)).all() == []


def test_language_change_is_persisted_and_audited(client, session, john):
    b, _ = john
    # every catalog present, each named in its own language (GSM-7: "Français" is sent as "Francais")
    assert dial(client, b.phone, "5") == (
        "CON Choose your language:\n1 English\n2 Español\n3 Francais\n4 Kiswahili\n0 Menu 00 Back")
    assert dial(client, b.phone, "5*4").startswith("CON Habari John.")
    session.expire_all()
    assert session.get(Borrower, b.id).language == "sw"
    assert dial(client, b.phone).startswith("CON Habari John.")
    # replaying the old choice in a later hop of the same session changes nothing more
    assert dial(client, b.phone, "5*4*1").startswith("CON Mkopo")
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "borrower.language_changed")).all()
    assert [(e.data["old"], e.data["new"]) for e in events] == [("en", "sw")]


def test_call_back_request_goes_to_the_call_centre_queue_once(client, session, amina):
    phone = amina[0].phone
    assert dial(client, phone, "8", session_id="ATUid_cb") == (
        "CON Ungependa tukupigie simu?\n1 Ndiyo, nipigie\n2 Ghairi\n0 Menyu 00 Rudi")  # asked first: nothing yet
    assert session.exec(select(CallbackRequest)).all() == []
    session.rollback()  # end the test's read transaction: see what the next hops write
    text = dial(client, phone, "8*1", session_id="ATUid_cb")
    assert text == "END Asante. Tutakupigia simu ndani ya siku moja ya kazi."
    dial(client, phone, "8*1", session_id="ATUid_cb")
    requests = session.exec(select(CallbackRequest)).all()
    assert [(r.borrower_id, r.loan_id, r.reason, r.status) for r in requests] == [
        (amina[0].id, amina[1].id, "ussd_request", "open")]


def test_several_loans_pick_the_loan_first(client, factory):
    b = factory.borrower("Grace Akinyi", "+254733000222", language="en")
    solar = factory.loan(b, product="solar home system", prefix="SOL")
    biz = factory.loan(b, product="business loan", prefix="BIZ")
    assert dial(client, b.phone) == (
        f"CON Choose a loan:\n1 {solar.account_ref} solar home system\n2 {biz.account_ref} business loan")
    assert dial(client, b.phone, "2").startswith(f"CON Hello Grace. Loan {biz.account_ref}")
    assert dial(client, b.phone, "2*1").startswith(f"CON Loan {biz.account_ref}")
    assert dial(client, b.phone, "2*00").startswith("CON Choose a loan:")  # back from the main menu
    assert dial(client, b.phone, "0").startswith("CON Invalid choice. Try again.\nChoose a loan:")


def test_navigation_back_home_and_invalid(client, john):
    phone = john[0].phone
    main = dial(client, phone)
    assert dial(client, phone, "1*0") == main
    assert dial(client, phone, "1*00") == main
    assert dial(client, phone, "3*2*00") == dial(client, phone, "3")
    assert dial(client, phone, "9") == "CON Invalid choice. Try again.\n" + main[4:]
    assert dial(client, phone, "9*1").startswith("CON Loan")  # a past error does not stick
    assert dial(client, phone, "1**") == "CON Invalid choice. Try again.\n" + dial(client, phone, "1")[4:]
    assert dial(client, phone, "*" * 200).startswith("CON Invalid choice. Try again.\nHello John.")


def test_unknown_number_gets_a_polite_end_in_both_languages(client, amina):
    expected = ("END Samahani, nambari hii haijasajiliwa. Piga 0800 720 000 kwa msaada.\n"
                "Sorry, this number is not registered. Call 0800 720 000 for help.")
    assert dial(client, "+254700999888") == expected
    assert dial(client, "not-a-number") == expected
    assert dial(client, "+254700999888", "1*2*3") == expected


@pytest.mark.parametrize("form,missing", [
    ({"phoneNumber": "+254712345678", "text": ""}, "sessionId"),
    ({"sessionId": "x", "text": "1"}, "phoneNumber"),
    ({}, "sessionId, phoneNumber"),
])
def test_missing_fields_get_a_clear_error(client, form, missing):
    res = client.post("/ussd", data=form)
    assert res.status_code == 400
    assert res.get_data(as_text=True) == f"END Bad request: missing {missing}"


def test_absurdly_long_input_is_refused_cleanly(client, amina):
    res = client.post("/ussd", data={"sessionId": "s", "phoneNumber": amina[0].phone, "text": "1*" * 2000})
    assert res.status_code == 400 and res.get_data(as_text=True).startswith("END ")


PATHS = ["", "1", "2", "3", "3*1", "3*2", "3*2*x", "3*2*700", "3*1*1", "4", "5", "0", "9", "3*2*99999"]


@pytest.mark.parametrize("language", i18n.languages())
def test_every_screen_fits_in_one_ussd_page_of_gsm7(client, factory, language):
    b = factory.borrower("Bartholomew Mwangangi-Kipchumba", "+254744000333", language=language)
    loan = factory.loan(b, principal="125000.50", count=12, first_due=dt.date(2026, 10, 1), fee="150")
    for path in PATHS:
        screen = dial(client, b.phone, path)
        assert len(screen) <= 182, (path, screen)
        assert sms_encoding(screen)[0] == "GSM-7", (path, screen)
    del loan


def test_suggested_amount_is_rounded_up_to_whole_shillings(client, factory):
    b = factory.borrower("Neema Chebet", "+254755000444", language="en")
    factory.loan(b, principal="1000.50", count=1, rate="0", first_due=dt.date(2026, 12, 1))
    assert dial(client, b.phone, "3") == "CON Pay now\n1 Pay Ksh1,001\n2 Other amount\n0 Menu 00 Back"
    assert dial(client, b.phone, "3*2*1001").startswith("CON Pay Ksh1,001 for loan")
    assert dial(client, b.phone, "3*2*1002").startswith("CON The most you can pay is Ksh1,001.")
