"""The issue's "done when": from the USSD menu, "Pay now" starts an STK push against the local
Daraja stand-in, its callback settles the installment, the balance screen shows the new balance
and the receipt SMS job is on the queue."""
import datetime as dt

import pytest
from sqlmodel import select

from gateway.models import PaymentIntent
from tests.helpers import dial, messages, payments, post_callback, queued_sms_ids, read, run_payment_jobs, stk_success

pytestmark = pytest.mark.usefixtures("frozen_clock")  # NOW, 12:00 in Nairobi


@pytest.mark.parametrize("lang, screens", [
    ("en", ("CON Pay now\n1 Pay Ksh1,200\n2 Other amount\n0 Menu 00 Back",
            "END You will get an M-Pesa prompt for Ksh1,200. Enter your PIN to pay.",
            "CON Loan {ref}\nBalance: Ksh4,800\nIn arrears: Ksh1,200\n0 Menu 00 Back",
            "CON Loan {ref}\nBalance: Ksh3,600\n0 Menu 00 Back",
            "Jirani Finance: We received Ksh1,200 for loan {ref}. Balance Ksh3,600. Next due 1 Dec.")),
    ("sw", ("CON Lipa sasa\n1 Lipa Ksh 1,200\n2 Kiasi kingine\n0 Menyu 00 Rudi",
            None,
            "CON Mkopo {ref}\nSalio: Ksh 4,800\nMalimbikizo: Ksh 1,200\n0 Menyu 00 Rudi",
            "CON Mkopo {ref}\nSalio: Ksh 3,600\n0 Menyu 00 Rudi",
            "Jirani Finance: Tumepokea Ksh 1,200 kwa mkopo {ref}. Salio Ksh 3,600. Malipo yajayo 1 Des.")),
])
def test_pay_now_from_ussd_to_receipt(factory, session, pay_client, daraja, lang, screens):
    pay_screen, started_screen, balance_before, balance_after, receipt_text = screens
    borrower = factory.borrower("John Otieno", "+254708374149", language=lang)
    loan = factory.loan(borrower, principal="4000", count=4, rate="0.05", first_due=dt.date(2026, 11, 1))
    ref = loan.account_ref  # 4 x (1,000 principal + 200 interest); the first is overdue

    assert dial(pay_client, borrower.phone, "1", "ATUid_b1") == balance_before.format(ref=ref)
    assert dial(pay_client, borrower.phone, "3", "ATUid_pay") == pay_screen
    started = dial(pay_client, borrower.phone, "3*1*1", "ATUid_pay")
    if started_screen:
        assert started == started_screen
    assert started.startswith("END ")

    run_payment_jobs()  # start_stk_push: the prompt is sent to the stand-in
    [push] = daraja.stk_requests()
    assert (push["json"]["Amount"], push["json"]["PhoneNumber"], push["json"]["AccountReference"]) == (
        1200, "254708374149", ref)
    [intent] = read(session, select(PaymentIntent))
    assert intent.status == "sent"

    # the borrower enters their PIN; Safaricom calls back
    res = post_callback(pay_client, "/payments/daraja/stk/callback", stk_success(
        checkout_id=intent.checkout_request_id, receipt="NLK2AB34CD", amount="1200.00", phone=254708374149))
    assert res.status_code == 200
    run_payment_jobs()

    [payment] = payments(session)
    assert (payment.status, payment.loan_id, payment.amount) == ("posted", loan.id, 120000)
    [intent] = read(session, select(PaymentIntent))
    assert (intent.status, intent.payment_id) == ("paid", payment.id)
    assert dial(pay_client, borrower.phone, "1", "ATUid_b2") == balance_after.format(ref=ref)
    [receipt] = messages(session)
    assert receipt.text == receipt_text.format(ref=ref)
    assert queued_sms_ids() == [receipt.id]  # the receipt's send job is on the queue
