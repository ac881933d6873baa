"""The welcome call, step by step: each event of the call (read by the voice provider's adapter)
decides the next step of the script, which the adapter speaks in its own format. State-changing
steps (the final report, keys pressed) are stored once per call session (VoiceEvent's unique key),
so the provider repeating a post changes nothing."""
from __future__ import annotations

from urllib.parse import urlencode

from sqlmodel import Session, select

from gateway import audit
from gateway.config import Settings
from gateway.i18n import Speaker
from gateway.inbox import insert_once
from gateway.messaging import welcome
from gateway.messaging.events import CallEvent
from gateway.models import Borrower, CallbackRequest, CallStatus, Loan, VoiceCall, VoiceEvent


def _once(session: Session, session_id: str, event: str, data: dict) -> bool:
    return insert_once(session, VoiceEvent(session_id=session_id, event=event, data=data))


def callback_url(settings: Settings) -> str:
    """Where AT posts the next step of the call: with our token, which every AT callback needs."""
    url = f"{settings.public_base_url}/voice/welcome"
    return f"{url}?{urlencode({'token': settings.at_callback_token})}" if settings.at_callback_token else url


def script_values(session: Session, call: VoiceCall, settings: Settings) -> dict:
    """What the welcome script says to this borrower, in their language."""
    borrower = session.get(Borrower, call.borrower_id)
    loan = session.get(Loan, call.loan_id)
    v = welcome.welcome_vars(session, borrower, loan, settings)
    speaker = Speaker.for_borrower(borrower)
    return dict(speaker=speaker, callback_url=callback_url(settings),
                audio_base=f"{settings.public_base_url}/voice/audio", lender=v["lender"], name=v["name"],
                product=v["product"], paybill=v["paybill"], account_ref=v["account_ref"],
                amount=speaker.money(v["first_amount"], v["currency"]), first_due=v["first_due_date"])


def on_call_event(session: Session, event: CallEvent, settings: Settings) -> tuple[str, VoiceCall | None]:
    """The next step of the script: "reject" (not a call of ours), "hangup" (the call is over),
    "repeat_due_date", "callback_requested" or "greeting"."""
    call = session.exec(select(VoiceCall).where(VoiceCall.session_id == event.session_id).with_for_update()).first()
    if call is None:
        audit.record(session, "africastalking", "voice.unknown_session", "voice_session", event.session_id[:64],
                     direction=event.direction)
        return "reject", None  # e.g. someone calling our number: no inbound voice service yet
    if not event.active:  # the final report of the call
        if _once(session, event.session_id, "final", event.data):
            timed_out = call.status == CallStatus.failed  # the sweeper gave up waiting and the welcome went on
            call.hangup_cause = event.hangup_cause[:40]
            call.duration_seconds = event.duration_seconds
            call.cost_minor, call.cost_currency = event.cost_minor, event.cost_currency
            if event.answered and (call.duration_seconds or 0) > 0:
                call.status = CallStatus.completed
            else:
                call.status = CallStatus.failed
                if not timed_out:
                    welcome.call_failed(session, call, settings)
            session.add(call)
            audit.record(session, "africastalking", "voice.call_finished", "voice_call", call.id, status=event.status,
                         hangup_cause=call.hangup_cause, outcome=call.status)
        return "hangup", call
    if event.digits == "1":
        return "repeat_due_date", call
    if event.digits == "2":
        if _once(session, event.session_id, "digits:2", event.data):
            session.add(CallbackRequest(borrower_id=call.borrower_id, loan_id=call.loan_id, reason="welcome_call",
                                        note="pressed 2 in the welcome call",
                                        source_ref=f"voice:{event.session_id}"[:120]))
            audit.record(session, "africastalking", "voice.callback_requested", "voice_call", call.id)
        return "callback_requested", call
    if call.status in (CallStatus.queued, CallStatus.calling):
        call.status = CallStatus.answered
        session.add(call)
    return "greeting", call  # the call was picked up (or an unknown key was pressed: start over)
