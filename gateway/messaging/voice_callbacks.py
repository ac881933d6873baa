"""Africa's Talking voice callbacks for the welcome call: every step of the call POSTs here and
gets XML back. State-changing steps (the final report, keys pressed) are stored once per session
(VoiceEvent's unique key), so AT repeating a post changes nothing."""
from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from gateway import audit
from gateway.config import Settings
from gateway.i18n import Speaker
from gateway.messaging import voice_script, welcome
from gateway.messaging.callbacks import CallbackError
from gateway.models import Borrower, CallbackRequest, Loan, VoiceCall, VoiceEvent

ANSWERED = {"Success", "Completed"}


def _once(session: Session, session_id: str, event: str, data: dict) -> bool:
    try:
        with session.begin_nested():
            session.add(VoiceEvent(session_id=session_id, event=event, data=data))
            session.flush()
        return True
    except IntegrityError:
        return False


def callback_url(settings: Settings) -> str:
    """Where AT posts the next step of the call: with our token, which every AT callback needs."""
    url = f"{settings.public_base_url}/voice/welcome"
    return f"{url}?{urlencode({'token': settings.at_callback_token})}" if settings.at_callback_token else url


def _script(session: Session, call: VoiceCall, settings: Settings) -> voice_script.WelcomeCall:
    borrower = session.get(Borrower, call.borrower_id)
    loan = session.get(Loan, call.loan_id)
    v = welcome.welcome_vars(session, borrower, loan, settings)
    speaker = Speaker.for_borrower(borrower)
    return voice_script.WelcomeCall(
        speaker, callback_url(settings), f"{settings.public_base_url}/voice/audio",
        lender=v["lender"], name=v["name"], product=v["product"], paybill=v["paybill"], account_ref=v["account_ref"],
        amount=speaker.money(v["first_amount"], v["currency"]), first_due=v["first_due_date"])


def welcome_callback(session: Session, form: dict, settings: Settings) -> str:
    session_id = (form.get("sessionId") or "").strip()
    if not session_id:
        raise CallbackError("sessionId is required")
    call = session.exec(select(VoiceCall).where(VoiceCall.session_id == session_id).with_for_update()).first()
    if call is None:
        audit.record(session, "africastalking", "voice.unknown_session", "voice_session", session_id[:64],
                     direction=form.get("direction", ""))
        return voice_script.reject()  # e.g. someone calling our number: no inbound voice service yet
    if form.get("isActive") == "0":  # the final report of the call
        if _once(session, session_id, "final", form):
            status = form.get("status", "")
            call.hangup_cause = (form.get("hangupCause") or "")[:40]
            duration = form.get("durationInSeconds") or ""
            call.duration_seconds = int(float(duration)) if duration.replace(".", "", 1).isdigit() else None
            if status in ANSWERED and (call.duration_seconds or 0) > 0:
                call.status = "completed"
            else:
                call.status = "failed"
                welcome.call_failed(session, call, settings)
            session.add(call)
            audit.record(session, "africastalking", "voice.call_finished", "voice_call", call.id, status=status,
                         hangup_cause=call.hangup_cause, outcome=call.status)
        return voice_script.empty()
    script = _script(session, call, settings)
    digits = (form.get("dtmfDigits") or "").strip()
    if digits == "1":
        return script.repeat_due_date()
    if digits == "2":
        if _once(session, session_id, "digits:2", form):
            session.add(CallbackRequest(borrower_id=call.borrower_id, loan_id=call.loan_id, reason="welcome_call",
                                        note="pressed 2 in the welcome call", source_ref=f"voice:{session_id}"[:120]))
            audit.record(session, "africastalking", "voice.callback_requested", "voice_call", call.id)
        return script.callback_requested()
    if call.status in ("queued", "calling"):
        call.status = "answered"
        session.add(call)
    return script.greeting()  # the call was picked up (or an unknown key was pressed: start over)
