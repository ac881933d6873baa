"""A field partner in a French- or Spanish-speaking country runs the borrower journey in its language:
the borrower picks the language on USSD, then menus, reminders, receipts and the operator console
speak it, with the locale's money and dates (CLDR through Babel: fr_CM, es_GQ; FCFA has no cents)."""
import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import Session, select

from gateway.borrowers import onboarding
from gateway.ledger import schedule
from gateway.messaging import sms_encoding
from gateway.models import Agent, Message
from gateway.money import to_minor
from gateway.payments import posting
from gateway.web.console_session import set_password
from gateway.workers.reminders import plan_reminders
from tests.helpers import dial, pay, run_jobs

# language: borrower, its number on the language menu (catalogs in code order), phone, country, timezone, then
# what the borrower sees: main menu, balance screen, reminder three days before the due date, receipt.
JOURNEYS = {
    "fr": dict(
        name="Mireille Ngono", key="3", phone="+237677001122", country="CM", tz="Africa/Douala",
        main="CON Bonjour Mireille. Pret {ref}\n1 Solde\n2 Prochain paiement\n3 Payer maintenant\n"
             "4 Derniers paiements\n5 Langue\n8 Rappelez-moi",
        balance="CON Pret {ref}\nSolde : 125 000 FCFA\n0 Menu 00 Retour",
        next="CON Prochain paiement : 31 250 FCFA à payer le 1 déc. 2026.\n0 Menu 00 Retour",
        reminder="Jirani Finance : Bonjour Mireille, 31 250 FCFA à payer le 1 déc. 2026. Payez par M-Pesa "
                 "Paybill 600966, compte {ref}. Merci !",
        receipt="Jirani Finance : Nous avons recu 40 000 FCFA pour le pret {ref}. Solde 85 000 FCFA. Prochaine "
                "échéance le 01/01.",
        console=["Échéancier", "Encours</span><b>85 000 FCFA</b>", "Mireille Ngono"]),
    "es": dict(
        name="Ana Obiang", key="2", phone="+240222001122", country="GQ", tz="Africa/Malabo",
        main="CON Hola Ana. Préstamo {ref}\n1 Saldo\n2 Proximo pago\n3 Pagar ahora\n4 Ultimos pagos\n"
             "5 Idioma\n8 Llamenme",
        balance="CON Préstamo {ref}\nSaldo: 125.000 FCFA\n0 Menu 00 Atras",
        next="CON Proximo pago: 31.250 FCFA a pagar el 1 dic 2026.\n0 Menu 00 Atras",
        reminder="Jirani Finance: Hola Ana, 31.250 FCFA vence el 1 dic 2026. Pague por M-Pesa Paybill 600966, "
                 "cuenta {ref}. ¡Gracias!",
        receipt="Jirani Finance: Recibimos 40.000 FCFA para el préstamo {ref}. Saldo 85.000 FCFA. "
                "Proximo vencimiento 1 ene.",
        console=["Calendario de pagos", "Saldo pendiente</span><b>85.000 XAF</b>", "Ana Obiang"]),
}


def xaf_loan(session, borrower):
    """125,000 FCFA in 4 monthly installments from 1 Dec 2026, no interest (FCFA has no minor unit)."""
    rows = schedule.generate(to_minor("125000", "XAF"), Decimal("0"), 4, dt.date(2026, 12, 1), "monthly", "flat", 0)
    loan = onboarding.create_loan(session, borrower, "business loan", to_minor("125000", "XAF"), "XAF", rows,
                                  ref_prefix="BIZ", disbursed_on=dt.date(2026, 11, 1))
    session.commit()
    return loan


@pytest.mark.parametrize("lang", sorted(JOURNEYS))
def test_borrower_journey_in_the_partners_language(lang, at_server, factory, session, client):
    j = JOURNEYS[lang]
    local = ZoneInfo(j["tz"])
    borrower = factory.borrower(j["name"], j["phone"], language="en", country=j["country"], timezone=j["tz"])
    loan = xaf_loan(session, borrower)
    ref = loan.account_ref

    with time_machine.travel(dt.datetime(2026, 11, 20, 12, 0, tzinfo=local), tick=False):
        # the borrower dials in English and picks the language from the menu, which lists every catalog
        assert dial(client, j["phone"], "5") == (
            "CON Choose your language:\n1 English\n2 Español\n3 Francais\n4 Kiswahili\n0 Menu 00 Back")
        assert dial(client, j["phone"], f"5*{j['key']}") == j["main"].format(ref=ref)
        for screen, path in (("main", ""), ("balance", "1"), ("next", "2")):
            text = dial(client, j["phone"], path)
            assert text == j[screen].format(ref=ref)
            assert len(text) <= 182 and sms_encoding(text) == ("GSM-7", 1)

    # three days before the due date, at 10:00 in Douala / Malabo: the reminder, in the language
    with time_machine.travel(dt.datetime(2026, 11, 28, 10, 0, tzinfo=local), tick=True):
        plan_reminders()
        run_jobs()
    # a payment: the receipt shows the new balance and the next due date in the language
    session.expire_all()  # the language the borrower chose on USSD
    with time_machine.travel(dt.datetime(2026, 12, 1, 11, 0, tzinfo=local), tick=True):
        payment = pay(session, loan, to_minor("40000", "XAF"), f"RKT{lang.upper()}0001")
        posting.queue_receipt(session, payment, loan)
        session.commit()
        run_jobs()
    with Session(session.get_bind()) as fresh:
        sent = fresh.exec(select(Message).order_by(Message.id)).all()
        assert [(m.template, m.language, m.encoding, m.segments) for m in sent] == [
            ("reminder_upcoming", lang, "GSM-7", 1), ("payment_receipt", lang, "GSM-7", 1)]
    assert [s["message"] for s in at_server.sms] == [j["reminder"].format(ref=ref), j["receipt"].format(ref=ref)]

    # the partner's staff read the console in the same language
    staff = Agent(name="Moses", phone="+254700100004", role="manager", field_partner_id=factory.partner.id)
    set_password(staff, "demo-password")
    session.add(staff)
    session.commit()
    page = client.get("/ops/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/ops/login", data={"phone": staff.phone, "password": "demo-password", "csrf_token": token})
    html = client.get(f"/ops/loans/{loan.id}?lang={lang}").get_data(as_text=True)
    assert f'<html lang="{lang}">' in html
    for text in j["console"]:
        assert text in html, text
