"""PAYG loans in the borrower's USSD menu: "My last code" and days of light on the balance screen."""

import datetime as dt

import pytest
import time_machine
from openpaygo import TokenType
from sqlmodel import select

from gateway.i18n import Speaker
from gateway.models import Message
from gateway.payg import service
from tests.helpers import codes_in, dial, pay, payg_loan

pytestmark = pytest.mark.usefixtures("frozen_clock")  # NOW, 12:00 in Nairobi


def test_main_menu_offers_my_last_code_for_payg_loans(client, factory):
    sw, sw_loan, _ = payg_loan(factory, language="sw", serial="SOL-SW")
    en, en_loan, _ = payg_loan(factory, language="en", serial="SOL-EN")
    assert dial(client, sw.phone) == (
        f"CON Habari Amina. Mkopo {sw_loan.account_ref}\n1 Salio\n2 Malipo yajayo\n3 Lipa sasa\n"
        "4 Malipo ya mwisho\n5 Lugha\n7 Msimbo wangu wa mwisho\n8 Nipigie simu")
    assert dial(client, en.phone) == (
        f"CON Hello Amina. Loan {en_loan.account_ref}\n1 Balance\n2 Next payment\n3 Pay now\n"
        "4 Last payments\n5 Language\n7 My last code\n8 Call me back")
    plain = factory.loan(factory.borrower(language="en"))
    menu = dial(client, factory.session.get(type(en), plain.borrower_id).phone)
    assert "7 My last code" not in menu
    assert dial(client, factory.session.get(type(en), plain.borrower_id).phone, "7").startswith("CON Invalid choice.")


def test_balance_shows_days_of_light_left(client, factory, session):
    sw, sw_loan, _ = payg_loan(factory, language="sw", serial="SOL-SW")
    en, en_loan, _ = payg_loan(factory, language="en", serial="SOL-EN")
    assert dial(client, en.phone, "1") == (
        f"CON Loan {en_loan.account_ref}\nBalance: Ksh18,000\nDays of light left: 0\n0 Menu 00 Back")
    pay(session, sw_loan, 50000, "TXU1")  # 10 days at KSh 50
    assert dial(client, sw.phone, "1") == (
        f"CON Mkopo {sw_loan.account_ref}\nSalio: Ksh 17,500\nSiku za mwanga zilizobaki: 10\n0 Menyu 00 Rudi")


def test_balance_of_a_paid_off_device_says_unlocked(client, factory, session):
    sw, loan, _ = payg_loan(factory, language="sw", principal="1000", count=1)
    pay(session, loan, 100000, "TXU2")
    assert dial(client, sw.phone, "1") == (
        f"CON Mkopo {loan.account_ref}\nSalio: Ksh 0\nMfumo wa sola umefunguliwa milele\n0 Menyu 00 Rudi")
    code = service.group_code(service.last_code(session, loan).token)
    assert dial(client, sw.phone, "7") == (
        f"CON Mfumo wako wa sola umefunguliwa milele. Msimbo wa mwisho: {code}\nTumekutumia pia kwa SMS.\n"
        "0 Menyu 00 Rudi")


def test_my_last_code_shows_it_and_resends_it_by_sms_once_per_session(client, factory, session):
    en, loan, device = payg_loan(factory, language="en")
    assert dial(client, en.phone, "7") == "CON No code has been sent yet. Pay to get a code.\n0 Menu 00 Back"
    assert session.exec(select(Message).where(Message.template == "payg_last_code")).all() == []

    pay(session, loan, 10000, "TXL1")
    payment = pay(session, loan, 15000, "TXL2")
    code = service.group_code(service.last_code(session, loan).token)
    assert dial(client, en.phone, "7", session_id="ATUid_code") == (
        f"CON Your last code: {code}\nWe have sent it to you by SMS too.\n0 Menu 00 Back")
    dial(client, en.phone, "7*00", session_id="ATUid_code")  # back to the menu: the replay sends nothing
    dial(client, en.phone, "7*00*7", session_id="ATUid_code")  # shown again in the same session: no second SMS
    session.commit()
    resent = session.exec(select(Message).where(Message.template == "payg_last_code")).all()
    assert [m.text for m in resent] == [f"Jirani Finance: your last solar code is {code}. "
                                        "To enter: press *, the code, then #."]
    # the code shown is the one the device needs next
    assert device.enter(codes_in(resent[0].text)[0]) == (TokenType.ADD_TIME, 3)
    assert service.last_code(session, loan).payment_id == payment.id
    # a new session within PAYG_CODE_RESEND_MINUTES (60) is shown the code, not sent another SMS
    sent_at = Speaker.for_borrower(en).time(resent[0].created_at)
    assert dial(client, en.phone, "7", session_id="ATUid_other") == (
        f"CON Your last code: {code}\nSent by SMS at {sent_at}. One SMS every 60 min.\n0 Menu 00 Back")
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=61)):
        dial(client, en.phone, "7", session_id="ATUid_later")  # an hour later it may be sent again
    session.commit()
    assert len(session.exec(select(Message).where(Message.template == "payg_last_code")).all()) == 2
