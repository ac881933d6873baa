"""One person borrowing from two lenders texts the gateway: what they sent to one lender's sender id
acts on that lender's account only; what cannot be told apart (a shared number) acts on each account,
each answered by its own lender (opting out of all is the safe reading of STOP)."""
import datetime as dt

import pytest
import time_machine
from sqlmodel import select

from gateway.borrowers import onboarding
from gateway.messaging import queue_sms
from gateway.models import Borrower, CallbackRequest, FieldPartner, InboundSms
from tests.helpers import read, run_jobs

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
AMINA = "+254712345678"


@pytest.fixture
def amina(session, factory):
    factory.partner.sender_id = "JIRANI"
    sola = FieldPartner(name="Sola Bora", help_line="0800 222 333", paybill="600200", sender_id="SOLABORA")
    session.add_all([factory.partner, sola])
    session.commit()
    at_jirani = factory.borrower("Amina Wanjiru", AMINA, language="sw")
    at_sola = onboarding.create_borrower(session, sola, "Amina Wanjiru", AMINA, "sw")
    session.commit()
    factory.loan(at_sola, prefix="SOL")
    return at_jirani, at_sola


def inbound(client, text, id_, to):
    return client.post("/sms/inbound", data={"from": AMINA, "to": to, "text": text, "id": id_,
                                             "date": "2026-11-25 09:00:00", "linkId": "", "networkCode": "63902"})


def opted_out(session):
    return {b.field_partner_id: b.opted_out for b in read(session, select(Borrower).where(Borrower.phone == AMINA))}


def test_stop_sent_to_a_lenders_sender_id_opts_out_of_that_lender_only(at_server, client, session, amina):
    at_jirani, at_sola = amina
    with time_machine.travel(T0, tick=True):
        assert inbound(client, "STOP", "in-1", "SOLABORA").get_json()["result"] == "opt_out"
        run_jobs()
    assert opted_out(session) == {at_jirani.field_partner_id: False, at_sola.field_partner_id: True}
    [reply] = at_server.sms
    assert (reply["from"], reply["to"]) == ("SOLABORA", AMINA)
    assert reply["message"].startswith("Sola Bora: Hutapokea tena vikumbusho.")
    [stored] = read(session, select(InboundSms))
    assert stored.borrower_id == at_sola.id


def test_stop_to_a_shared_number_opts_out_of_every_lender_each_answering(at_server, client, session, amina):
    with time_machine.travel(T0, tick=True):
        assert inbound(client, "ACHA", "in-1", "22384").get_json()["result"] == "opt_out"
        run_jobs()
    assert set(opted_out(session).values()) == {True}
    assert sorted((s["from"], s["message"].split(":")[0]) for s in at_server.sms) == [
        ("JIRANI", "Jirani Finance"), ("SOLABORA", "Sola Bora")]
    [stored] = read(session, select(InboundSms))
    assert stored.borrower_id is None  # not one lender's: each lender's audit trail has its own row


def test_a_question_to_a_shared_number_reaches_each_lenders_call_centre(at_server, client, session, amina):
    at_jirani, at_sola = amina
    with time_machine.travel(T0, tick=True):
        inbound(client, "Nimelipa jana", "in-1", "22384")
        inbound(client, "Nimelipa jana", "in-1", "22384")  # AT's retry changes nothing
        run_jobs()
    tasks = read(session, select(CallbackRequest).order_by(CallbackRequest.borrower_id))
    assert [(t.borrower_id, t.note) for t in tasks] == [(at_jirani.id, "Nimelipa jana"), (at_sola.id, "Nimelipa jana")]
    assert len(at_server.sms) == 2


def test_the_providers_opt_out_callback_names_the_sender_id(client, session, amina):
    at_jirani, at_sola = amina
    res = client.post("/sms/opt-out", data={"senderId": "JIRANI", "phoneNumber": AMINA})
    assert res.get_json()["result"] == "opted_out"
    assert opted_out(session) == {at_jirani.field_partner_id: True, at_sola.field_partner_id: False}
    client.post("/sms/opt-out", data={"senderId": "AFRICASTKNG", "phoneNumber": AMINA})  # no lender's: all of them
    assert set(opted_out(session).values()) == {True}


def test_a_lender_without_a_sender_id_of_its_own_writes_under_at_sender_id(at_server, session, factory, monkeypatch):
    monkeypatch.setenv("AT_SENDER_ID", "GATEWAY")
    sola = FieldPartner(name="Sola Bora", help_line="0800 222 333", sender_id="SOLABORA")
    session.add(sola)
    session.commit()
    at_jirani = factory.borrower("Amina Wanjiru", AMINA, language="en")  # Jirani: no sender id
    at_sola = onboarding.create_borrower(session, sola, "Amina Wanjiru", AMINA, "en")
    for borrower, lender in ((at_jirani, "Jirani Finance"), (at_sola, "Sola Bora")):
        queue_sms(session, borrower, "balance_none", kind="reply", lender=lender, help_line="0800")
    session.commit()
    run_jobs()
    assert [(s["from"], s["message"].split(":")[0]) for s in at_server.sms] == [
        ("GATEWAY", "Jirani Finance"), ("SOLABORA", "Sola Bora")]
