"""Africa's Talking SMS callbacks: delivery reports, incoming SMS, opt-outs. Each is stored in the
transaction that acts on it, keyed by AT's id with a unique constraint, so AT's retries of an
unacknowledged callback change nothing the second time."""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from gateway import audit, phones
from gateway.config import Settings
from gateway.db import utcnow
from gateway.i18n import Speaker
from gateway.messaging.compose import queue_sms
from gateway.messaging.context import borrower_vars
from gateway.models import (
    Borrower, CallbackRequest, DeliveryReport, InboundSms, Loan, LoanStatus, Message,
    RejectedCallback,
)
from gateway import ledger

log = logging.getLogger(__name__)

IN_TRANSIT = {"Sent", "Submitted", "Buffered"}
FINAL = {"Success", "Rejected", "Failed", "AbsentSubscriber", "Expired"}
# Worth sending again later: the phone was off or the network failed; the rest will fail again.
RESEND_STATUSES = {"AbsentSubscriber", "Expired"}
RESEND_REASONS = {"DeliveryFailure", "UserIsInactive"}

OPT_OUT_WORDS = {"STOP", "ACHA", "SITISHA"}
OPT_IN_WORDS = {"START", "ANZA"}
BALANCE_WORDS = {"SALIO", "BALANCE"}


class CallbackError(ValueError):
    """The callback is malformed: answered 4xx and kept for review."""


def reject(session: Session, source: str, reason: str, payload: dict) -> RejectedCallback:
    row = RejectedCallback(source=source, reason=reason[:200], payload=payload)
    session.add(row)
    audit.record(session, "africastalking", "callback.rejected", "callback", source, reason=reason[:200])
    return row


def _insert_once(session: Session, row) -> bool:
    """Insert in a savepoint; False if the unique key says we already have it."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
        return True
    except IntegrityError:
        return False


# --- delivery reports ---------------------------------------------------------------------------

def delivery_report(session: Session, form: dict, settings: Settings) -> tuple[str, Message | None]:
    provider_id, status = (form.get("id") or "").strip(), (form.get("status") or "").strip()
    if not provider_id or not status:
        raise CallbackError("id and status are required")
    if status not in IN_TRANSIT | FINAL:
        raise CallbackError(f"unknown delivery status {status!r}")
    retry_count = form.get("retryCount")
    report = DeliveryReport(provider_message_id=provider_id[:80], status=status,
                            phone=(form.get("phoneNumber") or "")[:20], network_code=(form.get("networkCode") or "")[:10],
                            failure_reason=(form.get("failureReason") or "")[:40],
                            retry_count=int(retry_count) if (retry_count or "").isdigit() else None)
    message = session.exec(select(Message).where(Message.provider_message_id == report.provider_message_id)
                           .with_for_update()).first()
    report.message_id = message.id if message else None
    if not _insert_once(session, report):
        return "duplicate", message
    if message is None:
        log.warning("delivery report for unknown message %s", provider_id)
        return "unknown_message", None
    entry = {"at": utcnow().isoformat(timespec="seconds"), "status": f"dlr:{status}"}
    if report.failure_reason:
        entry["reason"] = report.failure_reason
    message.status_history = [*message.status_history, entry]
    if status == "Success":
        message.status, message.delivered_at, message.failure_reason = "delivered", utcnow(), ""
    elif status in FINAL and message.status in ("sent", "sending"):
        resend = status in RESEND_STATUSES or report.failure_reason in RESEND_REASONS
        if resend and message.attempts <= settings.sms_max_retries:
            # Same Message, new send after a backoff; its job's RQ Retry covers provider errors.
            message.status = "retrying"
            delay = settings.sms_retry_base_seconds * 2 ** (message.attempts - 1)
            from gateway import outbox
            from gateway.workers.sms import send_retry
            outbox.after_commit(session, "gateway.workers.sms.send_message", message.id,
                                retry=send_retry(settings), at=utcnow() + dt.timedelta(seconds=delay))
        else:
            message.status = "undelivered"
        message.failure_reason = (report.failure_reason or status)[:60]
    session.add(message)
    audit.record(session, "africastalking", "sms.delivery_report", "message", message.id, status=status,
                 failure_reason=report.failure_reason, message_status=message.status)
    return message.status, message


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


def bulk_opt_out(session: Session, form: dict, settings: Settings) -> str:
    phone = phones.try_normalize(form.get("phoneNumber") or "", settings.default_country)
    if not phone:
        raise CallbackError("phoneNumber is missing or not a phone number")
    borrower = session.exec(select(Borrower).where(Borrower.phone == phone)).first()
    if borrower is None:
        audit.record(session, "africastalking", "sms.opt_out_unknown_number", "phone", phones.mask(phone),
                     sender_id=form.get("senderId", ""))
        return "unknown_number"
    set_opted_out(session, borrower, True, f"borrower:{phones.mask(phone)}", via="at_opt_out")
    return "opted_out"


# --- incoming SMS -------------------------------------------------------------------------------

def _parse_at_date(raw: str) -> dt.datetime | None:
    """AT sends e.g. '2026-11-23 17:13:35' (UTC) or ISO 8601; keep None if unreadable."""
    try:
        value = dt.datetime.fromisoformat((raw or "").strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def keyword(text: str) -> str:
    words = (text or "").strip().upper().split()
    return words[0].strip(".!,") if words else ""


def inbound_sms(session: Session, form: dict, settings: Settings) -> str:
    provider_id = (form.get("id") or "").strip()
    if not provider_id or not form.get("from"):
        raise CallbackError("id and from are required")
    phone = phones.try_normalize(form.get("from", ""), settings.default_country)
    if not phone:
        raise CallbackError(f"from is not a phone number: {form.get('from')!r}")
    borrower = session.exec(select(Borrower).where(Borrower.phone == phone)).first()
    inbound = InboundSms(provider_id=provider_id[:80], phone=phone, to=(form.get("to") or "")[:20],
                         text=(form.get("text") or "")[:1600], link_id=(form.get("linkId") or "")[:80],
                         network_code=(form.get("networkCode") or "")[:10], sent_at=_parse_at_date(form.get("date", "")),
                         borrower_id=borrower.id if borrower else None)
    if not _insert_once(session, inbound):
        return "duplicate"
    actor = f"borrower:{phones.mask(phone)}"
    if borrower is None:
        inbound.action = "unknown_number"
        audit.record(session, "africastalking", "sms.inbound_unknown_number", "inbound_sms", inbound.id)
        return inbound.action
    word = keyword(inbound.text)
    dedupe = f"inbound:{inbound.id}"
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
                                    note=inbound.text[:500], source_ref=f"sms:{inbound.provider_id}"[:120]))
        queue_sms(session, borrower, "callback_ack", kind="reply", dedupe_key=dedupe, **borrower_vars(session, borrower))
    session.add(inbound)
    audit.record(session, actor, f"sms.inbound.{inbound.action}", "inbound_sms", inbound.id)
    return inbound.action


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
