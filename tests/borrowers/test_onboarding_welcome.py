"""Onboarding by a field agent triggers the welcome: an SMS and an AT voice call whose XML speaks
English (<Say>) or plays recorded prompts (<Play>: Kiswahili, or any language recorded); unanswered
calls retry, then fall back to SMS. A language with no voice (French, Spanish until recorded) gets the SMS."""
import datetime as dt
import shutil

import pytest
import time_machine
from sqlmodel import Session, select

from gateway.models import AuditEvent, Borrower, CallbackRequest, Message, VoiceCall
from gateway.providers.africastalking import voice as voice_script
from tests.helpers import NAIROBI, read, run_jobs, scheduled_at, staff

MORNING = dt.datetime(2026, 11, 23, 10, 0, tzinfo=NAIROBI)


def agent_token(factory, session, role="field", phone="+254722000001"):
    return staff(session, factory, role, "Peter Kamau", phone)


def onboard(client, headers, language="en", phone="0712 345 678", product="business loan"):
    return client.post("/api/agents/borrowers", headers=headers, json={
        "name": "Amina Wanjiru", "phone": phone, "language": language, "national_id": "12345678",
        "loan": {"product": product, "principal": "10000", "installments": 4, "first_due_date": "2026-12-01",
                 "frequency": "monthly", "rate_per_period": "0.05"}})


def test_onboarding_sends_welcome_sms_and_calls(at_server, factory, session, client):
    agent, headers = agent_token(factory, session)
    with time_machine.travel(MORNING, tick=True):
        r = onboard(client, headers)
        assert r.status_code == 201, r.get_json()
        body = r.get_json()
        run_jobs()
    ref = body["account_ref"]
    assert ref.startswith("BIZ")
    (b,) = read(session, select(Borrower))
    assert (b.phone, b.onboarded_by_agent_id) == ("+254712345678", agent.id)  # tracked for commissions
    assert [s["message"] for s in at_server.sms] == [
        f"Welcome to Jirani Finance, Amina! Your business loan is registered. Pay via M-Pesa Paybill 600966, "
        f"account {ref}. First payment Ksh3,000 due 1 Dec 2026. Help: 0800 720 000. Reply STOP to stop reminders."]
    assert at_server.calls == [{"username": "jirani", "from": "+254711082000", "to": "+254712345678"}]
    (call,) = read(session, select(VoiceCall))
    assert (call.status, call.attempt) == ("queued", 1)

    # AT calls back when the borrower answers: English is spoken with <Say>
    r = client.post("/voice/welcome", data={"isActive": "1", "sessionId": call.session_id, "direction": "Outbound",
                                            "callerNumber": "+254711082000", "destinationNumber": b.phone})
    assert r.status_code == 200 and r.mimetype == "application/xml"
    assert r.get_data(as_text=True) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Say voice="woman" playBeep="false">Welcome to Jirani Finance, Amina. Your business loan is registered. '
        f'Pay with M-Pesa paybill 6 0 0 9 6 6, account {" ".join(ref)}.</Say>'
        '<Say voice="woman" playBeep="false">Your first payment of Ksh3,000 is due on 1 December 2026.</Say>'
        '<GetDigits numDigits="1" timeout="10" finishOnKey="#" callbackUrl="http://127.0.0.1:5000/voice/welcome">'
        '<Say voice="woman" playBeep="false">Press 1 to hear your first due date again. Press 2 to ask for a call '
        'back.</Say></GetDigits></Response>')
    r = client.post("/voice/welcome", data={"isActive": "1", "sessionId": call.session_id, "dtmfDigits": "1"})
    assert r.get_data(as_text=True).startswith(
        '<?xml version="1.0" encoding="UTF-8"?><Response><Say voice="woman" playBeep="false">Your first payment of '
        'Ksh3,000 is due on 1 December 2026.</Say><GetDigits')
    for _ in range(2):  # pressing 2 (AT may repeat the post): one call-back task
        r = client.post("/voice/welcome", data={"isActive": "1", "sessionId": call.session_id, "dtmfDigits": "2"})
        assert "One of our agents will call you back soon." in r.get_data(as_text=True)
    (task,) = read(session, select(CallbackRequest))
    assert (task.borrower_id, task.reason) == (b.id, "welcome_call")
    r = client.post("/voice/welcome", data={"isActive": "0", "sessionId": call.session_id, "status": "Success",
                                            "durationInSeconds": "42", "hangupCause": "NORMAL_CLEARING",
                                            "currencyCode": "KES", "amount": "2.5"})
    assert r.status_code == 200
    (call,) = read(session, select(VoiceCall))
    assert (call.status, call.duration_seconds) == ("completed", 42)


def test_kiswahili_call_plays_recorded_prompts(at_server, factory, session, client):
    _, headers = agent_token(factory, session)
    with time_machine.travel(MORNING, tick=True):
        assert onboard(client, headers, language="sw", product="solar home system").status_code == 201
        run_jobs()
    assert at_server.sms[0]["message"].startswith("Karibu Jirani Finance, Amina! Umesajiliwa kwa mfumo wa sola wa "
                                                  "nyumbani. Lipa kwa M-Pesa Paybill 600966, akaunti SOL")
    (call,) = read(session, select(VoiceCall))
    xml = client.post("/voice/welcome", data={"isActive": "1", "sessionId": call.session_id}).get_data(as_text=True)
    audio = "http://127.0.0.1:5000/voice/audio/sw"
    assert xml == ('<?xml version="1.0" encoding="UTF-8"?><Response>'
                   f'<Play url="{audio}/welcome.wav"/><Play url="{audio}/first_due.wav"/>'
                   f'<Play url="{audio}/day_01.wav"/><Play url="{audio}/month_12.wav"/>'
                   '<GetDigits numDigits="1" timeout="10" finishOnKey="#" callbackUrl="http://127.0.0.1:5000/voice/welcome">'
                   f'<Play url="{audio}/menu.wav"/></GetDigits></Response>')
    # every prompt the XML names is served
    for name in ("welcome", "first_due", "day_01", "day_31", "month_12", "menu", "callback_ok"):
        r = client.get(f"/voice/audio/sw/{name}.wav")
        assert r.status_code == 200 and r.data[:4] == b"RIFF", name
    assert client.get("/voice/audio/sw/nothing.wav").status_code == 404


def test_unanswered_call_is_retried_twice_then_sms(at_server, factory, session, client):
    _, headers = agent_token(factory, session)
    # onboarded late in the evening: the SMS and the call both wait for 08:00 (quiet hours)
    evening = dt.datetime(2026, 11, 23, 21, 0, tzinfo=NAIROBI)
    with time_machine.travel(evening, tick=True) as clock:
        assert onboard(client, headers).status_code == 201
        run_jobs()
        assert at_server.sms == [] and at_server.calls == []
        assert scheduled_at() == [dt.datetime(2026, 11, 24, 5, 0, tzinfo=dt.UTC)] * 2
        for attempt in range(3):
            clock.move_to(scheduled_at()[0] + dt.timedelta(seconds=1))
            run_jobs()
            assert len(at_server.calls) == attempt + 1 and len(at_server.sms) == 1
            call = read(session, select(VoiceCall).order_by(VoiceCall.id.desc()))[0]
            for _ in range(2):  # the final report, repeated by AT, counts once
                client.post("/voice/welcome", data={"isActive": "0", "sessionId": call.session_id, "status": "Failed",
                                                    "callSessionState": "NotAnswered", "hangupCause": "NO_ANSWER",
                                                    "durationInSeconds": "0"})
        run_jobs()
    calls = read(session, select(VoiceCall).order_by(VoiceCall.id))
    assert [(c.attempt, c.status, c.hangup_cause) for c in calls] == [(1, "failed", "NO_ANSWER")] * 1 + \
        [(2, "failed", "NO_ANSWER"), (3, "failed", "NO_ANSWER")]
    local_times = [c.call_at.astimezone(NAIROBI).strftime("%d %H:%M") for c in calls]
    assert local_times == ["24 08:00", "24 09:00", "24 10:00"]
    assert scheduled_at() == []
    assert [m.template for m in read(session, select(Message).order_by(Message.id))] == [
        "welcome", "welcome_call_missed"]
    assert at_server.sms[-1]["message"].startswith("Jirani Finance: Amina, we tried to call you to welcome you.")


def test_resend_welcome_and_auth(at_server, factory, session, client):
    _, headers = agent_token(factory, session)
    with time_machine.travel(MORNING, tick=True):
        borrower_id = onboard(client, headers).get_json()["borrower_id"]
        r = client.post(f"/api/agents/borrowers/{borrower_id}/welcome", headers=headers)
        assert r.status_code == 202
        run_jobs()
    assert len(at_server.sms) == 2 and len(at_server.calls) == 2
    assert client.post(f"/api/agents/borrowers/{borrower_id}/welcome").status_code == 401
    _, callcentre = agent_token(factory, session, role="callcentre", phone="+254722000002")
    assert client.post(f"/api/agents/borrowers/{borrower_id}/welcome", headers=callcentre).status_code == 403
    assert client.post("/api/agents/borrowers", headers={"Authorization": "Bearer wrong"}, json={}).status_code == 401
    r = onboard(client, headers, phone="12")
    assert r.status_code == 400 and "phone" in r.get_json()["detail"]
    r = client.post("/api/agents/borrowers", headers=headers, json={
        "name": "X", "phone": "0712000999", "language": "en", "loan": {"product": "solar home system"}})
    assert r.status_code == 400 and r.get_json()["detail"] == "loan.principal is required"
    assert len(read(session, select(Borrower))) == 1  # nothing half-created


def test_opted_out_borrower_gets_no_welcome_call(at_server, factory, session, client):
    _, headers = agent_token(factory, session)
    with time_machine.travel(MORNING, tick=True):
        borrower_id = onboard(client, headers).get_json()["borrower_id"]
        with Session(session.get_bind()) as s:
            b = s.get(Borrower, borrower_id)
            b.opted_out = True
            s.add(b)
            s.commit()
        run_jobs()
    assert at_server.sms == [] and at_server.calls == []
    (call,) = read(session, select(VoiceCall))
    assert call.status == "skipped_opted_out"


def test_voice_callbacks_bad_or_unknown(at_server, factory, session, client):
    r = client.post("/voice/welcome", data={"isActive": "1"})
    assert r.status_code == 400 and r.get_json()["detail"] == "sessionId is required"
    r = client.post("/voice/welcome", data={"isActive": "1", "sessionId": "ATVId_unknown", "direction": "Inbound"})
    assert r.status_code == 200
    assert r.get_data(as_text=True) == '<?xml version="1.0" encoding="UTF-8"?><Response><Reject/></Response>'
    from gateway.models import RejectedCallback
    assert [x.source for x in read(session, select(RejectedCallback))] == ["at.voice.welcome"]


@pytest.mark.filterwarnings("ignore:Sandbox is currently not available:UserWarning")
def test_adapter_points_the_sdk_at_the_configured_hosts():
    import africastalking

    from gateway.config import Settings
    from gateway.providers.africastalking import client as adapter

    adapter._services(Settings(at_username="sandbox", at_api_key="k"))
    assert (africastalking.SMS._baseUrl, africastalking.Voice._baseUrl) == (
        "https://api.sandbox.africastalking.com/version1", "https://voice.sandbox.africastalking.com")
    adapter._services(Settings(at_username="jirani", at_api_key="k"))
    assert (africastalking.SMS._baseUrl, africastalking.Voice._baseUrl) == (
        "https://api.africastalking.com/version1", "https://voice.africastalking.com")
    adapter._services(Settings(at_username="jirani", at_api_key="k", at_sms_base_url="http://127.0.0.1:9/version1/",
                               at_voice_base_url="http://127.0.0.1:9"))
    assert africastalking.SMS._baseUrl == "http://127.0.0.1:9/version1"


def speaks(factory, session, language):
    """The lender offers `language` to its borrowers (`gateway partner set --languages`)."""
    factory.partner.languages = f"sw,en,{language}"
    session.add(factory.partner)
    session.commit()


@pytest.mark.parametrize("language,sms", [
    ("fr", "Bienvenue chez Jirani Finance, Amina ! Votre pret commercial est enregistré. Payez par M-Pesa Paybill "
           "600966, compte {ref}. Premier paiement 3 000 KES le 1 déc. 2026. Aide : 0800 720 000. Répondez STOP "
           "pour ne plus recevoir de rappels."),
    ("es", "Jirani Finance le da la bienvenida, Amina. Su préstamo para negocio esta registrado. Pague por M-Pesa "
           "Paybill 600966, cuenta {ref}. Primer pago 3.000 KES el 1 dic 2026. Ayuda: 0800 720 000. Responda STOP "
           "para no recibir recordatorios."),
])
def test_a_language_without_recordings_gets_the_welcome_sms_and_no_call(at_server, factory, session, client,
                                                                       language, sms):
    """AT's text-to-speech speaks English only: French and Spanish are played from recordings, and
    until a lender records them the call is skipped (audited); the welcome SMS says everything."""
    speaks(factory, session, language)
    _, headers = agent_token(factory, session)
    with time_machine.travel(MORNING, tick=True):
        ref = onboard(client, headers, language=language).get_json()["account_ref"]
        run_jobs()
    assert [s["message"] for s in at_server.sms] == [sms.format(ref=ref)]
    assert at_server.calls == []
    (call,) = read(session, select(VoiceCall))
    assert call.status == "skipped_no_voice"
    (event,) = read(session, select(AuditEvent).where(AuditEvent.action == "voice.call_skipped"))
    assert (event.entity_id, event.data) == (str(call.id), {"language": language})


def test_recordings_dropped_into_a_language_folder_make_its_call(at_server, factory, session, client, tmp_path,
                                                                 monkeypatch):
    """A language is data for the voice call too: a folder <VOICE_PROMPTS_DIR>/<lang>/ with every prompt
    (here copies of the Kiswahili files standing in for French recordings); one missing file is not enough."""
    shutil.copytree(voice_script.PROMPTS_DIR / "sw", tmp_path / "fr")
    (tmp_path / "fr" / "month_12.wav").unlink()
    monkeypatch.setenv("VOICE_PROMPTS_DIR", str(tmp_path))
    assert not voice_script.can_speak("fr", str(tmp_path)) and voice_script.can_speak("en", str(tmp_path))
    shutil.copy(voice_script.PROMPTS_DIR / "sw" / "month_12.wav", tmp_path / "fr")
    speaks(factory, session, "fr")
    _, headers = agent_token(factory, session)
    with time_machine.travel(MORNING, tick=True):
        assert onboard(client, headers, language="fr").status_code == 201
        run_jobs()
    assert len(at_server.calls) == 1
    (call,) = read(session, select(VoiceCall))
    xml = client.post("/voice/welcome", data={"isActive": "1", "sessionId": call.session_id}).get_data(as_text=True)
    audio = "http://127.0.0.1:5000/voice/audio/fr"
    assert xml == ('<?xml version="1.0" encoding="UTF-8"?><Response>'
                   f'<Play url="{audio}/welcome.wav"/><Play url="{audio}/first_due.wav"/>'
                   f'<Play url="{audio}/day_01.wav"/><Play url="{audio}/month_12.wav"/>'
                   '<GetDigits numDigits="1" timeout="10" finishOnKey="#" callbackUrl="http://127.0.0.1:5000/voice/welcome">'
                   f'<Play url="{audio}/menu.wav"/></GetDigits></Response>')
