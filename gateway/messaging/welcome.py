"""The welcome a borrower gets when an agent onboards them: an SMS with how to pay, and an
Africa's Talking voice call saying it in their language. Unanswered calls are tried again
VOICE_CALL_RETRIES times at allowed hours, then an SMS says we tried to call."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func
from sqlmodel import Session, select

from gateway import audit, jobs, outbox
from gateway.borrowers import catalogue
from gateway.config import Settings
from gateway.db import utcnow
from gateway.messaging.compose import queue_sms
from gateway.messaging.context import borrower_vars
from gateway.models import Borrower, FieldPartner, Installment, Loan, Message, VoiceCall
from gateway.reminders import rules


def _first_installment(session: Session, loan: Loan) -> Installment:
    return session.exec(select(Installment).where(Installment.loan_id == loan.id)
                        .order_by(Installment.due_date, Installment.seq)).first()


def welcome_vars(session: Session, borrower: Borrower, loan: Loan, settings: Settings) -> dict:
    first = _first_installment(session, loan)
    partner = session.get(FieldPartner, borrower.field_partner_id)
    return dict(product=catalogue.name_of(session, partner, loan.product, borrower.language),
                account_ref=loan.account_ref,
                currency=loan.currency, first_amount=first.amount_due, first_due_date=first.due_date,
                **borrower_vars(session, borrower))


def start(session: Session, borrower: Borrower, loan: Loan, settings: Settings,
          actor: str) -> tuple[Message, VoiceCall]:
    """Queue the welcome SMS and plan the first call; both happen after the caller commits.
    Each call of this is one more welcome (the agent's "send again")."""
    trigger = 1 + session.exec(select(func.count()).select_from(VoiceCall).where(
        VoiceCall.loan_id == loan.id, VoiceCall.purpose == "welcome", VoiceCall.attempt == 1)).one()
    message = queue_sms(session, borrower, "welcome", kind="welcome", dedupe_key=f"welcome:{loan.id}:{trigger}",
                        **welcome_vars(session, borrower, loan, settings))
    call = plan_call(session, borrower, loan, trigger, attempt=1, not_before=utcnow(), settings=settings)
    audit.record(session, actor, "borrower.welcome", "loan", loan.id, message_id=message.id, trigger=trigger)
    return message, call


def plan_call(session: Session, borrower: Borrower, loan: Loan, trigger: int, attempt: int,
              not_before: dt.datetime, settings: Settings) -> VoiceCall:
    call_at = rules.next_allowed(not_before, borrower.timezone, settings)
    call = VoiceCall(borrower_id=borrower.id, loan_id=loan.id, purpose="welcome", attempt=attempt,
                     dedupe_key=f"welcome:{loan.id}:{trigger}:{attempt}", call_at=call_at)
    session.add(call)
    session.flush()
    outbox.after_commit(session, jobs.PLACE_CALL, call.id, at=call_at)
    return call


def call_failed(session: Session, call: VoiceCall, settings: Settings) -> None:
    """Not answered (or AT could not place it): call again later, or fall back to SMS."""
    borrower = session.get(Borrower, call.borrower_id)
    loan = session.get(Loan, call.loan_id)
    trigger = int(call.dedupe_key.split(":")[2])
    if call.attempt <= settings.voice_call_retries:
        plan_call(session, borrower, loan, trigger, call.attempt + 1,
                  utcnow() + dt.timedelta(minutes=settings.voice_retry_minutes), settings)
    else:
        queue_sms(session, borrower, "welcome_call_missed", kind="welcome",
                  dedupe_key=f"welcome-missed:{loan.id}:{trigger}", **welcome_vars(session, borrower, loan, settings))
