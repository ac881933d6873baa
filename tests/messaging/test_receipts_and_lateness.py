"""What a late borrower is told: a receipt says what is overdue since when and gives the next
date still to come (never a past date as "next"), starting with the lender's name; a reminder
states the loan's real lateness (the oldest unpaid installment), not the step's."""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import Session, select

from gateway.models import Message, Payment
from gateway.payments import posting
from gateway.workers.reminders import plan_reminders
from tests.helpers import run_jobs

NAIROBI = ZoneInfo("Africa/Nairobi")
DEC_1 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=NAIROBI)

RECEIPTS = {
    "en": "Jirani Finance: We received Ksh500 for loan {ref}. Balance Ksh4,300. Overdue Ksh700 since 21 Nov. "
          "Next due 21 Dec.",
    "sw": "Jirani Finance: Tumepokea Ksh 500 kwa mkopo {ref}. Salio Ksh 4,300. Deni lililochelewa Ksh 700 tangu "
          "21 Nov. Malipo yajayo 21 Des.",
    "fr": "Jirani Finance : Nous avons recu 500 KES pour le pret {ref}. Solde 4 300 KES. Impayé 700 KES depuis le "
          "21/11. Prochaine échéance le 21/12.",
    "es": "Jirani Finance: Recibimos 500 KES para el préstamo {ref}. Saldo 4.300 KES. Vencido 700 KES desde el "
          "21 nov. Proximo vencimiento 21 dic.",
}


def messages(session, **where):
    with Session(session.get_bind(), expire_on_commit=False) as fresh:
        stmt = select(Message).order_by(Message.id)
        for k, v in where.items():
            stmt = stmt.where(getattr(Message, k) == v)
        return fresh.exec(stmt).all()


@pytest.mark.parametrize("lang", sorted(RECEIPTS))
def test_receipt_ten_days_after_a_due_date_says_overdue_since_and_the_next_future_date(factory, session, lang):
    b = factory.borrower("Amina Wanjiru", language=lang)
    loan = factory.loan(b, principal="4000", count=4, first_due=dt.date(2026, 11, 21))  # 4 x 1,200
    with time_machine.travel(DEC_1, tick=False):
        payment = Payment(provider="mpesa", provider_txn_id=f"R{lang}", amount=50000, currency="KES")
        session.add(payment)
        session.flush()
        posting.post_to_loan(session, payment, loan, actor="system", rule="account_ref")
        session.commit()
    [receipt] = messages(session, template="payment_receipt")
    assert receipt.text.replace("\xa0", " ") == RECEIPTS[lang].format(ref=loan.account_ref)


def test_receipt_when_nothing_is_late_names_the_lender_and_the_next_date(factory, session):
    b = factory.borrower("John Otieno", language="en")
    loan = factory.loan(b, principal="4000", count=4, first_due=dt.date(2026, 12, 21))
    with time_machine.travel(DEC_1, tick=False):
        payment = Payment(provider="mpesa", provider_txn_id="R1", amount=50000, currency="KES")
        session.add(payment)
        session.flush()
        posting.post_to_loan(session, payment, loan, actor="system", rule="account_ref")
        session.commit()
    [receipt] = messages(session, template="payment_receipt")
    assert receipt.text == (f"Jirani Finance: We received Ksh500 for loan {loan.account_ref}. Balance Ksh4,300. "
                            "Next due 21 Dec.")


def test_reminder_states_the_oldest_unpaid_installments_lateness(at_server, factory, session):  # noqa: F811
    b = factory.borrower("Amina Wanjiru", language="sw")
    # Installments of 1,200 due 24 Sep, 24 Oct, 24 Nov: on 1 Dec the third is 7 days late (its
    # "arrears" step), but the loan has been late since 24 Sep: 68 days, Ksh 3,600.
    loan = factory.loan(b, principal="4000", count=4, first_due=dt.date(2026, 9, 24))
    with time_machine.travel(DEC_1, tick=True):
        plan_reminders()
        run_jobs()
    [sms] = [m for m in messages(session, status="sent") if m.kind == "reminder"]
    assert sms.template == "reminder_arrears"
    assert sms.text == (f"Jirani Finance: Amina, mkopo wako umechelewa siku 68: Ksh 3,600. Lipa kwa Paybill 600966, "
                        f"akaunti {loan.account_ref}, au piga 0800 720 000.")
