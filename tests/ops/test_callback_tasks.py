"""Call-back requests are call-centre tasks: a borrower who pressed "Call me back" on USSD, "2"
in the welcome call or wrote an SMS the gateway could not answer is first in the call-centre
queue (oldest first) with the reason and source, in the API and the console, until an agent
records the call's outcome."""
import datetime as dt

import pytest
import time_machine
from sqlmodel import Session, select

from gateway.models import CallbackRequest, CallLog, VoiceCall
from tests.helpers import dial, login, make_staff, staff, token

T0 = dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC)  # 09:00 in Nairobi


def read(session, stmt):
    with Session(session.get_bind(), expire_on_commit=False) as fresh:
        return fresh.exec(stmt).all()


@pytest.fixture
def requests_from_three_sources(client, factory, session):
    """A USSD request at 09:00, a welcome-call "press 2" at 10:00, a free-text SMS at 11:00; and a
    loan in arrears nobody asked about."""
    ussd = factory.borrower("Amina Wanjiru", language="sw")
    ussd_loan = factory.loan(ussd, first_due=dt.date(2026, 12, 1))
    voice = factory.borrower("Baraka Mwangi", language="en")
    voice_loan = factory.loan(voice, first_due=dt.date(2026, 12, 1))
    session.add(VoiceCall(borrower_id=voice.id, loan_id=voice_loan.id, dedupe_key="welcome:1", session_id="ATVId_1",
                          status="answered"))
    sms = factory.borrower("Chebet Koech", language="en")
    late = factory.loan(factory.borrower("Daudi Late", language="en"), first_due=dt.date(2026, 10, 1))
    session.commit()
    phones = (ussd.phone, sms.phone)
    with time_machine.travel(T0, tick=False):
        assert dial(client, phones[0], "8*1", "ATUid_cb1").startswith("END Asante.")
    with time_machine.travel(T0 + dt.timedelta(hours=1), tick=False):
        assert client.post("/voice/welcome", data={"isActive": "1", "sessionId": "ATVId_1",
                                                   "dtmfDigits": "2"}).status_code == 200
    with time_machine.travel(T0 + dt.timedelta(hours=2), tick=False):
        assert client.post("/sms/inbound", data={"from": phones[1], "to": "22384", "text": "Nimepoteza simu yangu",
                                                 "id": "in-1", "date": "2026-11-25 11:00:00", "linkId": "",
                                                 "networkCode": "63902"}).status_code == 200
    return dict(ussd=(ussd, ussd_loan), voice=(voice, voice_loan), sms=(sms, None), late=late)


def test_requests_are_first_in_the_api_queue_oldest_first_with_reason_and_source(client, factory, session,
                                                                                  requests_from_three_sources):
    _, headers = staff(session, factory, "callcentre")
    with time_machine.travel(T0 + dt.timedelta(hours=3), tick=False):
        body = client.get("/api/ops/queue", headers=headers).get_json()
    r = requests_from_three_sources
    assert [(c["borrower_name"], c["reason"], c["source"], c["account_ref"], c["age_hours"], c["note"])
            for c in body["callbacks"]] == [
        ("Amina Wanjiru", "ussd_request", "ussd", r["ussd"][1].account_ref, 3, ""),
        ("Baraka Mwangi", "welcome_call", "voice", r["voice"][1].account_ref, 2, "pressed 2 in the welcome call"),
        ("Chebet Koech", "inbound_sms", "sms", None, 1, "Nimepoteza simu yangu"),
    ]
    assert [i["account_ref"] for i in body["items"]] == [r["late"].account_ref]  # then the arrears


def test_an_outcome_closes_the_task_and_logs_the_call_on_the_loan(client, factory, session,
                                                                  requests_from_three_sources):
    _, headers = staff(session, factory, "callcentre")
    with time_machine.travel(T0 + dt.timedelta(hours=3), tick=False):
        first = client.get("/api/ops/queue", headers=headers).get_json()["callbacks"][0]
        res = client.post(f"/api/ops/callbacks/{first['id']}/outcome", headers=headers,
                          json={"outcome": "reached", "note": "asked for the paybill"})
        assert res.status_code == 200 and res.get_json()["outcome"] == "reached"
        again = client.post(f"/api/ops/callbacks/{first['id']}/outcome", headers=headers, json={"outcome": "reached"})
        assert again.status_code == 400 and "already handled" in again.get_json()["detail"]
        bad = client.post(f"/api/ops/callbacks/{first['id'] + 1}/outcome", headers=headers, json={"outcome": "maybe"})
        assert bad.status_code == 400 and "outcome must be one of" in bad.get_json()["detail"]
        assert client.post("/api/ops/callbacks/999/outcome", headers=headers,
                           json={"outcome": "reached"}).status_code == 404
        left = client.get("/api/ops/queue", headers=headers).get_json()["callbacks"]
    assert [c["source"] for c in left] == ["voice", "sms"]
    (call,) = read(session, select(CallLog))
    (done,) = read(session, select(CallbackRequest).where(CallbackRequest.status == "done"))
    assert (call.loan_id, call.outcome, call.note) == (requests_from_three_sources["ussd"][1].id, "reached",
                                                        "asked for the paybill")
    assert (done.outcome, done.call_id) == ("reached", call.id)


def test_the_console_queue_shows_the_requests_first_and_records_the_outcome(client, factory, session,
                                                                            requests_from_three_sources):
    make_staff(session, factory, "callcentre", "Zawadi Caller", "+254700100002")
    with time_machine.travel(T0 + dt.timedelta(hours=3), tick=True):
        login(client, "0700100002")
        page = client.get("/ops/queue").get_data(as_text=True)
        assert page.index("Amina Wanjiru") < page.index("Baraka Mwangi") < page.index("Chebet Koech") \
            < page.index(requests_from_three_sources["late"].account_ref)
        assert "Nimepoteza simu yangu" in page and "Waiting 3 h" in page
        task = read(session, select(CallbackRequest).order_by(CallbackRequest.id))[2]
        res = client.post(f"/ops/queue/callbacks/{task.id}", data={"outcome": "wrong_number", "note": "",
                                                                   "csrf_token": token(page)})
        assert res.status_code == 302
        page = client.get("/ops/queue").get_data(as_text=True)
    assert "Nimepoteza simu yangu" not in page and "Call saved." in page
    assert read(session, select(CallbackRequest.outcome).where(CallbackRequest.id == task.id)) == ["wrong_number"]
