"""Payments to a PAYG loan send OpenPAYGO codes; the device (openpaygo.decode_token) accepts each
code once, in order, for exactly the days paid for."""
import datetime as dt

import pytest
from openpaygo import TokenType
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from gateway import ledger
from gateway.i18n import Speaker
from gateway.models import AuditEvent, Device, Loan, Message, PaygToken
from gateway.payg import service
from tests.helpers import codes_in, pay, payg_loan, sms_for

pytestmark = pytest.mark.usefixtures("frozen_clock")  # NOW, 12:00 in Nairobi


def test_every_code_sent_adds_exactly_the_days_paid_for(factory, session):
    _, loan, device = payg_loan(factory, language="en")  # KSh 50 a day
    first = pay(session, loan, 50000, "TXA1")  # KSh 500 -> 10 days
    text = sms_for(session, first).text
    code = codes_in(text)[0]
    assert text == (f"Jirani Finance: Ksh500 received. Solar code: {code}. 10 days of light, until 30 Nov 2026. "
                    "To enter: press *, the code, then #.")
    assert sms_for(session, first).segments == 1
    assert len(code.replace(" ", "")) == 9

    second = pay(session, loan, 12000, "TXA2")  # KSh 120 -> 2 days, KSh 20 carried
    third = pay(session, loan, 8000, "TXA3")  # KSh 80 + KSh 20 carried -> 2 days
    assert "2 days of light, until 2 Dec 2026." in sms_for(session, second).text
    assert "2 days of light, until 4 Dec 2026." in sms_for(session, third).text

    for payment, days in [(first, 10), (second, 2), (third, 2)]:
        kind, value = device.enter(codes_in(sms_for(session, payment).text)[0])
        assert (kind, value) == (TokenType.ADD_TIME, days)
    assert device.days == 14
    stored = session.exec(select(Device)).one()
    assert (stored.days_credited, stored.leftover, stored.token_count) == (14, 0, device.count)
    assert service.days_left(session, loan, dt.date(2026, 11, 20)) == 14
    assert service.days_left(session, loan, dt.date(2026, 12, 10)) == 0


def test_sms_in_kiswahili(factory, session):
    _, loan, device = payg_loan(factory, language="sw")
    text = sms_for(session, pay(session, loan, 50000, "TXS1")).text
    code = codes_in(text)[0]
    assert text == (f"Jirani Finance: tumepokea Ksh 500. Msimbo wa sola: {code}. Siku 10 za mwanga, hadi 30 Nov 2026. "
                    "Kuweka: bonyeza *, msimbo, kisha #.")
    assert device.enter(code) == (TokenType.ADD_TIME, 10)
    registered = session.exec(select(Message).where(Message.template == "payg_device_registered")).one()
    assert registered.text == (f"Jirani Finance: mfumo wa sola SOL-0001 umewekwa. Lipa kwa akaunti {loan.account_ref}; "
                               "kwa kila malipo utapata msimbo kwa SMS. Kuweka: bonyeza *, msimbo, kisha #.")
    assert (registered.encoding, registered.segments) == ("GSM-7", 1)


def test_an_old_code_is_refused_as_already_used(factory, session):
    _, loan, device = payg_loan(factory)
    old = codes_in(sms_for(session, pay(session, loan, 10000, "TXO1")).text)[0]
    new = codes_in(sms_for(session, pay(session, loan, 10000, "TXO2")).text)[0]
    assert device.enter(old) == (TokenType.ADD_TIME, 2)
    assert device.enter(old) == (TokenType.ALREADY_USED, None)
    assert device.enter(new) == (TokenType.ADD_TIME, 2)
    assert device.enter(old) == (TokenType.ALREADY_USED, None)
    assert device.enter("123 456 789") == (TokenType.INVALID, None)
    assert device.days == 4


def test_restricted_digit_device_gets_codes_of_keys_1_to_4(factory, session):
    _, loan, device = payg_loan(factory, restricted=True)
    for i in range(3):
        code = codes_in(sms_for(session, pay(session, loan, 5000 * (i + 1), f"TXR{i}")).text)[0]
        digits = code.replace(" ", "")
        assert len(digits) == 15 and set(digits) <= set("1234")
        assert device.enter(code) == (TokenType.ADD_TIME, i + 1)
    assert device.days == 6


def test_paying_off_the_loan_sends_the_code_that_unlocks_the_device(factory, session):
    _, loan, device = payg_loan(factory, principal="1000", count=2)
    first = pay(session, loan, 40000, "TXP1")
    device.enter(codes_in(sms_for(session, first).text)[0])
    final = pay(session, loan, 60000, "TXP2")  # the rest of the loan
    assert session.get(Loan, loan.id).status == "repaid"
    text = sms_for(session, final).text
    code = codes_in(text)[0]
    assert text == (f"Jirani Finance: Ksh600 received. Loan fully paid, congratulations! "
                    f"Code to unlock for good: {code}. To enter: press *, the code, then #.")
    assert device.enter(code)[0] == TokenType.DISABLE_PAYG and device.unlocked
    assert session.exec(select(Device)).one().payg_disabled
    token = service.last_code(session, loan)
    assert (token.kind, token.payment_id) == ("disable", final.id)
    # an overpayment afterwards buys nothing more: no code, no SMS
    later = pay(session, loan, 5000, "TXP3")
    assert session.exec(select(PaygToken).where(PaygToken.payment_id == later.id)).all() == []
    assert session.exec(select(Message).where(Message.dedupe_key == f"payment:{later.id}")).first() is None


def test_unlock_sms_in_kiswahili(factory, session):
    _, loan, device = payg_loan(factory, language="sw", principal="1000", count=1)
    text = sms_for(session, pay(session, loan, 100000, "TXU1")).text
    code = codes_in(text)[0]
    assert text == (f"Jirani Finance: tumepokea Ksh 1,000. Mkopo umelipwa wote, hongera! Msimbo wa kufungua "
                    f"milele: {code}. Kuweka: bonyeza *, msimbo, kisha #.")
    assert device.enter(code)[0] == TokenType.DISABLE_PAYG


def test_more_than_995_days_is_split_into_several_codes(factory, session):
    _, loan, device = payg_loan(factory, principal="100000", rate="1")  # KSh 1 a day
    payment = pay(session, loan, 200000, "TXBIG")  # KSh 2,000 -> 2000 days
    tokens = session.exec(select(PaygToken).where(PaygToken.payment_id == payment.id).order_by(PaygToken.part)).all()
    assert [t.days for t in tokens] == [995, 995, 10]
    text = sms_for(session, payment).text
    codes = codes_in(text)
    assert text.startswith(f"Jirani Finance: Ksh2,000 received. Solar codes, enter in this order: "
                           f"1) {codes[0]}, 2) {codes[1]}, 3) {codes[2]}. 2000 days of light, until ")
    assert [device.enter(c) for c in codes] == [(TokenType.ADD_TIME, 995), (TokenType.ADD_TIME, 995),
                                                 (TokenType.ADD_TIME, 10)]
    assert device.days == 2000


def test_less_than_a_day_is_carried_to_the_next_payment(factory, session):
    borrower, loan, device = payg_loan(factory, language="sw")
    small = pay(session, loan, 3000, "TXC1")  # KSh 30 of a KSh 50 day
    assert sms_for(session, small).text == ("Jirani Finance: tumepokea Ksh 30. Siku moja ya mwanga ni Ksh 50: "
                                            "lipa Ksh 20 zaidi upate msimbo wako unaofuata.")
    borrower.language = "en"
    session.add(borrower)
    session.commit()
    small2 = pay(session, loan, 1000, "TXC2")
    assert sms_for(session, small2).text == ("Jirani Finance: Ksh10 received. One day of light costs Ksh50: "
                                             "pay Ksh10 more to get your next code.")
    assert service.tokens_for_payment(session, small2) == []  # called again: the credit is not carried twice
    session.commit()
    assert session.exec(select(Device)).one().leftover == 4000
    rest = pay(session, loan, 1000, "TXC3")  # 30 + 10 + 10 = one day
    assert device.enter(codes_in(sms_for(session, rest).text)[0]) == (TokenType.ADD_TIME, 1)
    assert "Solar code: " in sms_for(session, rest).text and " 1 day of light, " in sms_for(session, rest).text


def test_a_payment_never_buys_its_codes_twice(factory, session):
    _, loan, device = payg_loan(factory)
    payment = pay(session, loan, 10000, "TXD1")
    first = session.exec(select(PaygToken)).all()
    # the handler called again (a replayed signal) returns the same codes
    assert [t.id for t in service.tokens_for_payment(session, payment)] == [t.id for t in first]
    session.commit()
    with pytest.raises(ledger.LedgerError):  # and the ledger refuses to post it again
        ledger.post_payment(session, payment, loan.id)
    session.rollback()
    assert len(session.exec(select(PaygToken)).all()) == 1
    assert len(session.exec(select(Message).where(Message.dedupe_key == f"payment:{payment.id}")).all()) == 1
    # the database itself refuses a second code for the same payment
    session.add(PaygToken(device_id=first[0].device_id, count=99, payment_id=payment.id, part=0, token="1",
                          kind="add_time"))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_loans_without_a_device_get_no_codes(factory, session):
    loan = factory.loan(factory.borrower())
    payment = pay(session, loan, 10000, "TXN1")
    assert session.exec(select(PaygToken)).all() == []
    assert service.last_code(session, loan) is None and service.days_left(session, loan, dt.date(2026, 12, 1)) is None
    assert session.exec(select(Message).where(Message.dedupe_key == f"payment:{payment.id}")).first() is None


def test_last_code_is_resent_by_sms_once_per_request(factory, session):
    borrower, loan, device = payg_loan(factory, language="sw")
    pay(session, loan, 10000, "TXL1")
    second = pay(session, loan, 5000, "TXL2")
    token = service.resend_last_code(session, loan, "ussd-session-1").token
    service.resend_last_code(session, loan, "ussd-session-1")
    session.commit()
    assert token.payment_id == second.id
    resent = session.exec(select(Message).where(Message.template == "payg_last_code")).all()
    assert [m.text for m in resent] == [
        f"Jirani Finance: msimbo wako wa mwisho wa sola ni {service.group_code(token.token)}. "
        "Kuweka: bonyeza *, msimbo, kisha #."]
    borrower.language = "en"
    session.add(borrower)
    service.resend_last_code(session, loan, "ussd-session-2")
    session.commit()
    assert session.exec(select(Message).where(Message.dedupe_key.like("%ussd-session-2"))).one().text == (
        f"Jirani Finance: your last solar code is {service.group_code(token.token)}. "
        "To enter: press *, the code, then #.")


def test_entry_instructions_for_the_welcome_sms():
    assert service.entry_instructions(Speaker("en")) == "To enter: press *, the code, then #."
    assert service.entry_instructions(Speaker("sw")) == "Kuweka: bonyeza *, msimbo, kisha #."


def test_group_code():
    assert service.group_code("123456789") == "123 456 789"
    assert service.group_code("123412341234123") == "123 412 341 234 123"


def test_a_reversed_payment_is_charged_to_the_next_payments(factory, session):
    _, loan, device = payg_loan(factory, language="en")  # KSh 50 a day
    paid = pay(session, loan, 50000, "TXV1")
    assert device.enter(codes_in(sms_for(session, paid).text)[0]) == (TokenType.ADD_TIME, 10)
    ledger.reverse_payment(session, paid, "mpesa", "reversed by Safaricom")  # the code cannot be taken back
    session.commit()
    stored = session.exec(select(Device)).one()
    # the device keeps its 10 days of light; the money is owed again
    assert (stored.leftover, stored.days_credited, stored.credit_until) == (-50000, 10, dt.date(2026, 11, 30))
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "payg.payment_reversed")).one()
    assert event.data == {"payment_id": paid.id, "amount": 50000, "days": 10, "leftover": -50000,
                          "unlocked_already": False}
    # the next KSh 300 pays back part of the 10 days already given: no code yet
    short = pay(session, loan, 30000, "TXV2")
    assert sms_for(session, short).text == ("Jirani Finance: Ksh300 received. One day of light costs Ksh50: "
                                            "pay Ksh250 more to get your next code.")
    assert session.exec(select(PaygToken).where(PaygToken.payment_id == short.id)).all() == []
    enough = pay(session, loan, 30000, "TXV3")  # -200 + 300 = 100: two days
    assert device.enter(codes_in(sms_for(session, enough).text)[0]) == (TokenType.ADD_TIME, 2)
    assert device.days == 12 and session.exec(select(Device)).one().days_credited == 12


def test_reversing_the_payment_that_unlocked_the_device_is_flagged(factory, session):
    _, loan, _ = payg_loan(factory, principal="1000", count=1)
    final = pay(session, loan, 100000, "TXV4")
    ledger.reverse_payment(session, final, "operator", "cheque bounced")
    session.commit()
    assert session.get(Loan, loan.id).status == "active"
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "payg.payment_reversed")).one()
    assert event.data["unlocked_already"] is True
