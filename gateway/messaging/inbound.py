"""What comes back from borrowers and the SMS provider: delivery reports, incoming SMS and
opt-outs, as events read by the provider's adapter (gateway/providers/). Each is stored in the
transaction that acts on it, keyed by the provider's id with a unique constraint, so a provider's
retries of an unacknowledged callback change nothing the second time.

Many lenders: a phone may be a borrower at several lenders (one Borrower row each). What a person
sends to one lender's sender id (FieldPartner.sender_id: the alphanumeric name or SMS shortcode
their SMS come from) acts on that lender's account only. What cannot be told apart (a number the
lenders share, or a sender id no lender has) acts on every account of that phone, each answered by
its own lender: STOP then opts out of all of them, the safe reading. The same holds for the
provider's opt-out callback, which names the sender id."""
from __future__ import annotations

import datetime as dt
import logging

from sqlmodel import Session, select

from gateway import audit, jobs, ledger, outbox, phones
from gateway.config import Settings
from gateway.db import utcnow
from gateway.i18n import Speaker
from gateway.inbox import insert_once
from gateway.messaging.compose import queue_sms
from gateway.messaging.context import borrower_vars
from gateway.messaging.events import Delivery, DeliveryStatus, InboundMessage
from gateway.models import (
    Borrower,
    CallbackRequest,
    DeliveryReport,
    FieldPartner,
    InboundSms,
    Loan,
    LoanStatus,
    Message,
    MessageStatus,
)

log = logging.getLogger(__name__)

OPT_OUT_WORDS = {"STOP", "ACHA", "SITISHA"}
OPT_IN_WORDS = {"START", "ANZA"}
BALANCE_WORDS = {"SALIO", "BALANCE"}


# --- delivery reports ---------------------------------------------------------------------------

def delivery_report(session: Session, event: DeliveryStatus, settings: Settings) -> tuple[str, Message | None]:
    report = DeliveryReport(provider_message_id=event.provider_message_id, status=event.status,
                            phone=event.phone, network_code=event.network_code,
                            failure_reason=event.failure_reason, retry_count=event.retry_count)
    message = session.exec(select(Message).where(Message.provider_message_id == report.provider_message_id)
                           .with_for_update()).first()
    if message is None and event.phone:
        message = _unknown_to(session, event)
    report.message_id = message.id if message else None
    if not insert_once(session, report):
        return "duplicate", message
    if message is None:
        log.warning("delivery report for unknown message %s", event.provider_message_id)
        return "unknown_message", None
    entry = {"at": utcnow().isoformat(timespec="seconds"), "status": f"dlr:{event.status}"}
    if report.failure_reason:
        entry["reason"] = report.failure_reason
    message.status_history = [*message.status_history, entry]
    if event.delivery == Delivery.delivered:
        message.status, message.delivered_at, message.failure_reason = MessageStatus.delivered, utcnow(), ""
    elif event.delivery != Delivery.in_transit and message.status in (MessageStatus.sent, MessageStatus.sending,
                                                                      MessageStatus.unknown):
        if event.delivery == Delivery.retry_later and message.attempts <= settings.sms_max_retries:
            # Same Message, new send after a backoff; its job's RQ Retry covers provider errors.
            message.status = MessageStatus.retrying
            delay = settings.sms_retry_base_seconds * 2 ** (message.attempts - 1)
            outbox.after_commit(session, jobs.SEND_SMS, message.id, at=utcnow() + dt.timedelta(seconds=delay))
        else:
            message.status = MessageStatus.undelivered
        message.failure_reason = (report.failure_reason or event.status)[:60]
    session.add(message)
    audit.record(session, "africastalking", "sms.delivery_report", "message", message.id, status=event.status,
                 failure_reason=report.failure_reason, message_status=message.status)
    return message.status, message


def _unknown_to(session: Session, event: DeliveryStatus) -> Message | None:
    """A message whose send died before we stored the provider's id (`unknown`): the provider's
    report for the same phone settles it, when it is the only one to that phone. With several (one
    person, two lenders or two messages), the report cannot say which: all stay for review."""
    phone = phones.try_normalize(event.phone)
    if phone is None:
        return None
    candidates = session.exec(select(Message).where(Message.status == MessageStatus.unknown, Message.phone == phone,
                                                    Message.provider_message_id.is_(None))
                              .limit(2).with_for_update()).all()
    if len(candidates) != 1:
        return None
    message = candidates[0]
    message.provider_message_id = event.provider_message_id
    return message


# --- opt-out ------------------------------------------------------------------------------------

def set_opted_out(session: Session, borrower: Borrower, opted_out: bool, actor: str, via: str) -> bool:
    """True if it changed. Pending reminders are skipped at send time, not deleted here."""
    if borrower.opted_out == opted_out:
        return False
    borrower.opted_out = opted_out
    session.add(borrower)
    audit.record(session, actor, "borrower.opted_out" if opted_out else "borrower.opted_in", "borrower",
                 borrower.id, via=via)
    return True


def borrowers_of(session: Session, phone: str, sender_id: str) -> list[Borrower]:
    """This phone's borrower rows: only the one at the lender whose sender id this is, when that tells
    them apart; otherwise all of them (none: not a borrower)."""
    rows = list(session.exec(select(Borrower).where(Borrower.phone == phone).order_by(Borrower.id)))
    if len(rows) < 2 or not sender_id.strip():
        return rows
    senders = dict(session.exec(select(FieldPartner.id, FieldPartner.sender_id).where(
        FieldPartner.id.in_([b.field_partner_id for b in rows]))).all())
    mine = [b for b in rows if senders.get(b.field_partner_id) and senders[b.field_partner_id] == sender_id.strip()]
    return mine or rows


def bulk_opt_out(session: Session, phone: str, sender_id: str) -> str:
    """The provider says this phone opted out of this sender id: of that lender, or of all when no lender
    (or several) has it."""
    borrowers = borrowers_of(session, phone, sender_id)
    if not borrowers:
        audit.record(session, "africastalking", "sms.opt_out_unknown_number", "phone", phones.mask(phone),
                     sender_id=sender_id)
        return "unknown_number"
    for borrower in borrowers:
        set_opted_out(session, borrower, True, f"borrower:{phones.mask(phone)}", via="at_opt_out")
    return "opted_out"


# --- incoming SMS -------------------------------------------------------------------------------

def keyword(text: str) -> str:
    words = (text or "").strip().upper().split()
    return words[0].strip(".!,") if words else ""


def inbound_sms(session: Session, sms: InboundMessage) -> str:
    phone = sms.phone
    borrowers = borrowers_of(session, phone, sms.to)
    inbound = InboundSms(provider_id=sms.provider_id, phone=phone, to=sms.to, text=sms.text, link_id=sms.link_id,
                         network_code=sms.network_code, sent_at=sms.sent_at,
                         borrower_id=borrowers[0].id if len(borrowers) == 1 else None)
    if not insert_once(session, inbound):
        return "duplicate"
    if not borrowers:
        inbound.action = "unknown_number"
        audit.record(session, "africastalking", "sms.inbound_unknown_number", "inbound_sms", inbound.id)
        return inbound.action
    for borrower in borrowers:  # one, unless the lenders cannot be told apart: then each answers its own
        suffix = "" if len(borrowers) == 1 else f":{borrower.id}"
        _act(session, inbound, borrower, suffix)
    session.add(inbound)
    audit.record(session, f"borrower:{phones.mask(phone)}", f"sms.inbound.{inbound.action}", "inbound_sms",
                 inbound.id)
    return inbound.action


def _act(session: Session, inbound: InboundSms, borrower: Borrower, suffix: str) -> None:
    actor = f"borrower:{phones.mask(inbound.phone)}"
    word = keyword(inbound.text)
    dedupe = f"inbound:{inbound.id}{suffix}"
    if word in OPT_OUT_WORDS:
        inbound.action = "opt_out"
        set_opted_out(session, borrower, True, actor, via="sms")
        queue_sms(session, borrower, "opted_out", kind="reply", dedupe_key=dedupe, **borrower_vars(session, borrower))
    elif word in OPT_IN_WORDS:
        inbound.action = "opt_in"
        set_opted_out(session, borrower, False, actor, via="sms")
        queue_sms(session, borrower, "opted_in", kind="reply", dedupe_key=dedupe, **borrower_vars(session, borrower))
    elif word in BALANCE_WORDS:
        inbound.action = "balance"
        _reply_balance(session, borrower, dedupe)
    else:
        inbound.action = "callcentre"
        loan = _current_loan(session, borrower)
        session.add(CallbackRequest(borrower_id=borrower.id, loan_id=loan.id if loan else None, reason="inbound_sms",
                                    note=inbound.text[:500], source_ref=f"sms:{inbound.provider_id}{suffix}"[:120]))
        queue_sms(session, borrower, "callback_ack", kind="reply", dedupe_key=dedupe,
                  **borrower_vars(session, borrower))


def _current_loan(session: Session, borrower: Borrower) -> Loan | None:
    return session.exec(select(Loan).where(Loan.borrower_id == borrower.id, Loan.status == LoanStatus.active)
                        .order_by(Loan.created_at, Loan.id)).first()


def _reply_balance(session: Session, borrower: Borrower, dedupe: str) -> Message:
    loan = _current_loan(session, borrower)
    if loan is None:
        return queue_sms(session, borrower, "balance_none", kind="reply", dedupe_key=dedupe,
                         **borrower_vars(session, borrower))
    bal = ledger.balance(session, loan, Speaker.for_borrower(borrower).today())
    return queue_sms(session, borrower, "balance", kind="reply", dedupe_key=dedupe, account_ref=loan.account_ref,
                     balance=bal, **borrower_vars(session, borrower))
