"""Placing a planned welcome call through Africa's Talking Voice; safe to run twice."""
from __future__ import annotations

import logging

from sqlmodel import select

from gateway import audit, jobs
from gateway.config import Settings
from gateway.db import session_scope, utcnow
from gateway.messaging import welcome
from gateway.models import Borrower, CallStatus, VoiceCall
from gateway.providers.africastalking import client as at
from gateway.providers.africastalking import voice as at_voice
from gateway.providers.sms import ProviderUnavailable
from gateway.reminders import rules

log = logging.getLogger(__name__)


def place_call(call_id: int) -> str:
    settings = Settings.from_env()
    with session_scope(settings) as session:
        call = session.exec(select(VoiceCall).where(VoiceCall.id == call_id).with_for_update()).first()
        if call is None or call.status != CallStatus.planned:
            return call.status if call else "missing"
        borrower = session.get(Borrower, call.borrower_id)
        if borrower.opted_out:
            call.status = CallStatus.skipped_opted_out
            session.add(call)
            return call.status
        if not at_voice.can_speak(borrower.language, settings.voice_prompts_dir):
            # no text-to-speech nor recordings in the language: the SMS is enough
            call.status = CallStatus.skipped_no_voice
            session.add(call)
            audit.record(session, "system", "voice.call_skipped", "voice_call", call.id, language=borrower.language)
            return call.status
        now = utcnow()
        later = rules.next_allowed(now, borrower.timezone, settings)
        if later > now:  # the job ran late, into the night
            jobs.postpone(jobs.PLACE_CALL, call_id, settings=settings, at=later)
            return "postponed"
        call.status = CallStatus.calling  # claimed: a second run of this job will not dial again
        session.add(call)
        phone = borrower.phone
    try:
        result = at.call(settings, phone)
    except ProviderUnavailable as exc:
        result = at.CallResult(phone, "Failed", "", str(exc))
    with session_scope(settings) as session:
        call = session.get(VoiceCall, call_id)
        if result.status == "Queued" and result.session_id:
            call.status, call.session_id, call.placed_at = CallStatus.queued, result.session_id, utcnow()
        else:
            call.status, call.hangup_cause = CallStatus.failed, result.error[:40]
            welcome.call_failed(session, call, settings)
        session.add(call)
        audit.record(session, "system", "voice.call_placed", "voice_call", call.id, status=call.status,
                     attempt=call.attempt)
        return call.status
