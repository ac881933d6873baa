"""The payments rules: every way money reaches us ends in `record_payment` (idempotent on the
provider's transaction id by the database) and is allocated later by `settle` in an RQ job.

Callback handling: check authenticity -> store the raw callback and the payment in one
transaction -> commit -> answer. Allocation and the receipt SMS happen in
gateway.workers.payments.post_payment, enqueued only after that commit; the sweeper re-enqueues
anything left behind (Redis down) and retries raw callbacks whose processing failed.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, select

from gateway import audit, outbox, phones
from gateway.config import Settings
from gateway.db import session_scope, utcnow
from gateway.i18n import Speaker
from gateway.messaging import queue_sms
from gateway.models import Borrower, FieldPartner, Loan, Payment, PaymentIntent, PaymentStatus, RawCallback
from gateway.models.payments import PaymentReversal
from gateway.money import MoneyError, to_minor
from gateway.payg import service as payg_service
from gateway.payments import matching
from gateway.web import callback_auth as authenticity
from gateway.providers.mpesa.client import NAIROBI
from gateway import ledger
from gateway.borrowers.onboarding import normalize_account_ref

log = logging.getLogger(__name__)

QUEUE = "payments"  # the payments jobs' own RQ queue (workers must listen to it)
POST_JOB = "gateway.workers.payments.post_payment"
STK_CALLBACK_PATH = "/payments/daraja/stk/callback"  # Safaricom blocks URLs containing "mpesa"
C2B_ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}
RAW_RETRY_LIMIT = 10
MAX_BODY_CHARS = 64_000  # real callbacks are under 2 KB; anything huge is kept (truncated) for review


class CallbackRejected(Exception):
    """A callback we will not process: answered with `status` and `body`, stored as rejected."""

    def __init__(self, status: int, error: str, detail: str, body: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.body = body or {"error": error, "detail": detail}


class PaymentError(Exception):
    """An operator action that cannot be done (HTTP status for the API)."""

    def __init__(self, status: int, error: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


class OriginalNotYetKnown(Exception):
    """A reversal for a payment we have not received (yet): kept as failed, retried by the sweeper."""


@dataclass(frozen=True)
class Incoming:
    """A payment as a provider reported it, already validated."""

    provider: str
    txn_id: str
    amount: int  # minor units
    currency: str
    payer_phone: str = ""
    account_ref: str = ""
    paid_at: dt.datetime | None = None


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict


# ---------------------------------------------------------------------------- storing payments

def _insert_ignoring_duplicates(session: Session, model, values: dict) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING: the database, not a check in code, decides whether this
    is the first time we see the row (concurrent duplicates included). Returns the new id or None."""
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:
        raise RuntimeError(f"no idempotent insert for {dialect}")
    table = model.__table__
    stmt = insert(table).values(**values).on_conflict_do_nothing().returning(table.c.id)
    return session.execute(stmt).scalar_one_or_none()


def record_payment(session: Session, incoming: Incoming, actor: str) -> tuple[Payment, bool]:
    """Store the payment once per (provider, transaction id); (payment, True) the first time.
    Allocation is queued for after the commit."""
    row = Payment(provider=incoming.provider, provider_txn_id=incoming.txn_id, amount=incoming.amount,
                  currency=incoming.currency, payer_phone=incoming.payer_phone[:32],
                  account_ref=incoming.account_ref[:40], paid_at=incoming.paid_at)
    new_id = _insert_ignoring_duplicates(session, Payment, row.model_dump(exclude={"id"}))
    if new_id is None:
        payment = session.exec(select(Payment).where(Payment.provider == incoming.provider,
                                                     Payment.provider_txn_id == incoming.txn_id)).one()
        if (payment.amount, payment.currency) != (incoming.amount, incoming.currency):
            log.warning("payment %s %s seen again with a different amount: %s %s (kept %s %s)", incoming.provider,
                        incoming.txn_id, incoming.amount, incoming.currency, payment.amount, payment.currency)
        return payment, False
    # Inserted just now with exactly these values: no need to read it back.
    row.id = new_id
    make_transient_to_detached(row)
    session.add(row)
    payment = row
    audit.record(session, actor, "payment.received", "payment", payment.id, provider=payment.provider,
                 provider_txn_id=payment.provider_txn_id, amount=payment.amount, currency=payment.currency,
                 account_ref=payment.account_ref)
    outbox.after_commit(session, POST_JOB, payment.id, queue=QUEUE)
    return payment, True


# ---------------------------------------------------------------------------- posting

def _locked_payment(session: Session, payment_id: int) -> Payment | None:
    return session.exec(select(Payment).where(Payment.id == payment_id).with_for_update()).one_or_none()


def settle(session: Session, payment_id: int) -> Payment | None:
    """Match a received payment to a loan and post it, or put it in suspense. Does nothing to a
    payment that is already posted, in suspense, reversed or refunded (safe to run twice)."""
    payment = _locked_payment(session, payment_id)
    if payment is None or payment.status != PaymentStatus.received:
        return payment
    found = matching.match(session, payment)
    if found.loan is not None and found.loan.currency == payment.currency:
        post_to_loan(session, payment, found.loan, actor="system", rule=found.rule)
        return payment
    if found.loan is not None:
        # Wrong currency: the money did arrive, so it is not rejected; an operator refunds it.
        note = f"paid in {payment.currency}; loan {found.loan.account_ref} is in {found.loan.currency}"
    else:
        note = found.rule
    payment.status = PaymentStatus.suspense
    payment.note = note[:200]
    session.add(payment)
    audit.record(session, "system", "payment.suspense", "payment", payment.id, reason=note,
                 account_ref=payment.account_ref, amount=payment.amount, currency=payment.currency)
    return payment


def post_to_loan(session: Session, payment: Payment, loan: Loan, actor: str, rule: str) -> None:
    ledger.post_payment(session, payment, loan.id, actor=actor)
    audit.record(session, actor, "payment.matched", "payment", payment.id, loan_id=loan.id, rule=rule)
    queue_receipt(session, payment, loan)


def queue_receipt(session: Session, payment: Payment, loan: Loan):
    """'We received KSh 500 for loan SOL12345. Balance KSh 4,500. Next due 12 Dec.'"""
    if payg_service.texted_about(session, payment.id):
        return None  # the PAYG code SMS already says the money arrived: one SMS per payment, not two
    borrower = session.get(Borrower, loan.borrower_id)
    bal = ledger.balance(session, loan, Speaker.for_borrower(borrower).today())
    return queue_sms(session, borrower, "payment_receipt", kind="transactional", dedupe_key=f"receipt:{payment.id}",
                     amount=payment.amount, currency=payment.currency, account_ref=loan.account_ref,
                     balance=bal.net_outstanding, next_due=bal.next_due_date)


# ---------------------------------------------------------------------------- operators

def _suspended(session: Session, payment_id: int) -> Payment:
    payment = _locked_payment(session, payment_id)
    if payment is None:
        raise PaymentError(404, "not_found", f"no payment {payment_id}")
    if payment.status != PaymentStatus.suspense:
        raise PaymentError(409, "not_in_suspense", f"payment {payment_id} is {payment.status}, not in suspense")
    return payment


def assign(session: Session, payment_id: int, account_ref: str, actor: str) -> Payment:
    """An operator puts a suspense payment on a loan: posted, receipted, audited."""
    payment = _suspended(session, payment_id)
    ref = normalize_account_ref(account_ref)
    loan = session.exec(select(Loan).where(Loan.account_ref == ref)).first() if ref else None
    if loan is None:
        raise PaymentError(404, "unknown_loan", f"no loan with account number {account_ref!r}")
    if loan.currency != payment.currency:
        raise PaymentError(409, "currency_mismatch",
                           f"payment is in {payment.currency}, loan {loan.account_ref} is in {loan.currency}: refund it")
    audit.record(session, actor, "payment.assigned", "payment", payment.id, loan_id=loan.id,
                 account_ref=loan.account_ref, previous_note=payment.note)
    payment.note = ""
    post_to_loan(session, payment, loan, actor=actor, rule="operator")
    return payment


def refund(session: Session, payment_id: int, actor: str, reason: str) -> Payment:
    """Mark a suspense payment as refunded (the money goes back outside the gateway)."""
    payment = _suspended(session, payment_id)
    payment.status = PaymentStatus.refunded
    payment.note = (reason or "refunded")[:200]
    session.add(payment)
    audit.record(session, actor, "payment.refunded", "payment", payment.id, reason=reason,
                 amount=payment.amount, currency=payment.currency, payer_phone=phones.mask(payment.payer_phone))
    return payment


def reverse(session: Session, payment: Payment, *, provider: str, reversal_txn_id: str, actor: str,
            reason: str) -> bool:
    """Unwind a payment once: the PaymentReversal row's unique constraints make a replayed or
    concurrent reversal a no-op. True if this call reversed it."""
    payment = _locked_payment(session, payment.id)
    if payment.status in (PaymentStatus.reversed, PaymentStatus.refunded):
        return False
    row = PaymentReversal(payment_id=payment.id, provider=provider, provider_txn_id=reversal_txn_id,
                          actor=actor, reason=reason[:200])
    if _insert_ignoring_duplicates(session, PaymentReversal, row.model_dump(exclude={"id"})) is None:
        return False
    ledger.reverse_payment(session, payment, actor, reason)
    return True


def reverse_by_operator(session: Session, payment_id: int, actor: str, reason: str) -> Payment:
    payment = _locked_payment(session, payment_id)
    if payment is None:
        raise PaymentError(404, "not_found", f"no payment {payment_id}")
    if not reverse(session, payment, provider="operator", reversal_txn_id=f"payment:{payment.id}",
                   actor=actor, reason=reason or "reversed by operator"):
        raise PaymentError(409, "not_reversible", f"payment {payment_id} is {payment.status}")
    return payment


def callbacks_for_review(session: Session, status: str, limit: int = 100) -> list[RawCallback]:
    return list(session.exec(select(RawCallback).where(RawCallback.status == status)
                             .order_by(RawCallback.id.desc()).limit(limit)))


def suspense_list(session: Session) -> list[Payment]:
    return list(session.exec(select(Payment).where(Payment.status == PaymentStatus.suspense)
                             .order_by(Payment.received_at, Payment.id)))


# ---------------------------------------------------------------------------- parsing helpers

def _json(raw: RawCallback) -> dict:
    try:
        body = json.loads(raw.body or "", parse_float=Decimal)  # never float for money
    except ValueError as exc:
        raise CallbackRejected(400, "bad_json", f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise CallbackRejected(400, "bad_json", "body must be a JSON object")
    return body


def _required(body: dict, *names: str) -> None:
    missing = [n for n in names if body.get(n) in (None, "")]
    if missing:
        raise CallbackRejected(422, "missing_fields", f"missing {', '.join(missing)}")


def _amount(value, currency: str) -> int:
    try:
        minor = to_minor(Decimal(str(value)) if not isinstance(value, Decimal) else value, currency)
    except (MoneyError, ArithmeticError, ValueError):
        raise CallbackRejected(422, "bad_amount", f"not an amount in {currency}: {value!r}") from None
    if minor <= 0:
        raise CallbackRejected(422, "bad_amount", f"amount must be positive: {value!r}")
    return minor


def _nairobi_time(value) -> dt.datetime | None:
    """M-Pesa's YYYYMMDDHHMMSS, Kenyan local time -> UTC."""
    try:
        local = dt.datetime.strptime(str(value).strip(), "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return local.replace(tzinfo=NAIROBI).astimezone(dt.timezone.utc)


def _payer_phone(value) -> str:
    """E.164 when it is a real number; M-Pesa masks C2B MSISDNs ('2547 ***** 126'): kept as is."""
    text = str(value or "").strip()
    return phones.try_normalize(text) or text


# ---------------------------------------------------------------------------- M-Pesa Daraja

def _c2b_incoming(body: dict) -> Incoming:
    _required(body, "TransID", "TransAmount")
    return Incoming(provider="mpesa", txn_id=str(body["TransID"]).strip().upper(),
                    amount=_amount(body["TransAmount"], "KES"), currency="KES",
                    payer_phone=_payer_phone(body.get("MSISDN")), account_ref=str(body.get("BillRefNumber") or ""),
                    paid_at=_nairobi_time(body.get("TransTime")))


def mpesa_c2b_validation(session: Session, raw: RawCallback, settings: Settings) -> dict:
    """Safaricom asks whether to accept a paybill payment before it completes."""
    body = _json(raw)
    try:
        incoming = _c2b_incoming(body)
    except CallbackRejected as exc:
        raw.error = exc.detail
        code = "C2B00013" if exc.error == "bad_amount" else "C2B00016"
        return {"ResultCode": code, "ResultDesc": "Rejected"}
    if settings.mpesa_strict_validation and not matching.account_exists(session, incoming.account_ref):
        raw.error = f"unknown account number {incoming.account_ref!r}"
        return {"ResultCode": "C2B00012", "ResultDesc": "Rejected"}
    return {"ResultCode": "0", "ResultDesc": "Accepted"}


def mpesa_c2b_confirmation(session: Session, raw: RawCallback, settings: Settings) -> dict:
    payment, _ = record_payment(session, _c2b_incoming(_json(raw)), actor="mpesa")
    raw.payment_id = payment.id
    return C2B_ACCEPTED


def _metadata(callback: dict) -> dict:
    """CallbackMetadata.Item[] -> {Name: Value}; items without a Value (e.g. Balance) are skipped."""
    items = ((callback.get("CallbackMetadata") or {}).get("Item")) or []
    if not isinstance(items, list):
        raise CallbackRejected(422, "bad_metadata", "CallbackMetadata.Item must be a list")
    return {str(i.get("Name")): i.get("Value") for i in items if isinstance(i, dict) and i.get("Value") is not None}


def mpesa_stk_callback(session: Session, raw: RawCallback, settings: Settings) -> dict:
    """Settles the payment intent: paid with a payment, or failed with an SMS to the borrower."""
    body = _json(raw)
    callback = (body.get("Body") or {}).get("stkCallback") if isinstance(body.get("Body"), dict) else None
    if not isinstance(callback, dict):
        raise CallbackRejected(422, "not_stk_callback", "expected Body.stkCallback")
    _required(callback, "CheckoutRequestID", "ResultCode")
    try:
        result_code = str(int(callback["ResultCode"]))
    except (TypeError, ValueError):
        raise CallbackRejected(422, "bad_result_code", f"ResultCode {callback['ResultCode']!r}") from None
    intent = session.exec(select(PaymentIntent).where(
        PaymentIntent.checkout_request_id == str(callback["CheckoutRequestID"])).with_for_update()).first()
    loan = session.get(Loan, intent.loan_id) if intent else None
    if result_code == "0":
        meta = _metadata(callback)
        _required(meta, "MpesaReceiptNumber", "Amount")
        incoming = Incoming(provider="mpesa", txn_id=str(meta["MpesaReceiptNumber"]).strip().upper(),
                            amount=_amount(meta["Amount"], "KES"), currency="KES",
                            payer_phone=_payer_phone(meta.get("PhoneNumber")),
                            account_ref=loan.account_ref if loan else "",
                            paid_at=_nairobi_time(meta.get("TransactionDate")))
        payment, _ = record_payment(session, incoming, actor="mpesa")
        raw.payment_id = payment.id
        if intent is None:
            raw.error = UNKNOWN_CHECKOUT
        elif intent.status != "paid":
            _settle_intent(session, intent, "paid", result_code, callback.get("ResultDesc", ""), payment.id)
            _claim_for_intent_loan(session, payment, loan)
    elif intent is None:
        raw.error = UNKNOWN_CHECKOUT
    elif intent.status not in ("paid", "failed"):
        _settle_intent(session, intent, "failed", result_code, callback.get("ResultDesc", ""), None)
        queue_stk_failed_sms(session, intent, loan, result_code)
    return C2B_ACCEPTED


UNKNOWN_CHECKOUT = "no payment intent with this CheckoutRequestID (yet)"


def _claim_for_intent_loan(session: Session, payment: Payment, loan: Loan) -> None:
    """A callback that beat the push job to storing the CheckoutRequestID was recorded without
    the loan; now that the intent is known, the payment goes to the loan the borrower chose."""
    payment = _locked_payment(session, payment.id)
    if payment.account_ref or payment.status not in (PaymentStatus.received, PaymentStatus.suspense):
        return
    payment.account_ref = loan.account_ref
    session.add(payment)
    if payment.status == PaymentStatus.suspense and payment.currency == loan.currency:
        payment.note = ""
        post_to_loan(session, payment, loan, actor="system", rule="stk_intent")


def settle_early_stk_callbacks(session: Session, settings: Settings, intent: PaymentIntent) -> int:
    """Callbacks for this intent's CheckoutRequestID that arrived before we stored it."""
    early = session.exec(select(RawCallback).where(
        RawCallback.provider == "mpesa", RawCallback.kind == "stk_callback", RawCallback.status == "processed",
        RawCallback.error == UNKNOWN_CHECKOUT, RawCallback.body.contains(intent.checkout_request_id))).all()
    for raw in early:
        raw.error = ""
        mpesa_stk_callback(session, raw, settings)
        session.add(raw)
    return len(early)


def _settle_intent(session: Session, intent: PaymentIntent, status: str, code: str, desc: str,
                   payment_id: int | None) -> None:
    intent.status = status
    intent.result_code = code
    intent.result_desc = str(desc or "")[:200]
    intent.payment_id = payment_id
    intent.settled_at = utcnow()
    session.add(intent)
    audit.record(session, "mpesa", f"payment_intent.{status}", "payment_intent", intent.id,
                 result_code=code, result_desc=intent.result_desc, payment_id=payment_id)


def queue_stk_failed_sms(session: Session, intent: PaymentIntent, loan: Loan, code: str):
    borrower = session.get(Borrower, loan.borrower_id)
    partner = session.get(FieldPartner, borrower.field_partner_id)
    return queue_sms(session, borrower, "stk_failed", kind="transactional", dedupe_key=f"stk_failed:{intent.id}",
                     amount=intent.amount, currency=intent.currency, account_ref=loan.account_ref, code=code,
                     paybill=partner.paybill if partner else "")


def mpesa_reversal_result(session: Session, raw: RawCallback, settings: Settings) -> dict:
    """Daraja Reversal API result: {"Result": {ResultCode, TransactionID, ResultParameters: ...}}."""
    body = _json(raw)
    result = body.get("Result")
    if not isinstance(result, dict):
        raise CallbackRejected(422, "not_reversal_result", "expected Result")
    _required(result, "ResultCode", "TransactionID")
    if str(result["ResultCode"]) != "0":
        raw.error = f"reversal not done by M-Pesa: {result.get('ResultDesc', '')}"[:500]
        return C2B_ACCEPTED
    params = (result.get("ResultParameters") or {}).get("ResultParameter") or []
    if isinstance(params, dict):
        params = [params]
    values = {str(p.get("Key")): p.get("Value") for p in params if isinstance(p, dict)}
    original = str(values.get("OriginalTransactionID") or "").strip().upper()
    if not original:
        raise CallbackRejected(422, "missing_fields", "missing ResultParameters OriginalTransactionID")
    _reverse_provider_payment(session, raw, "mpesa", original, str(result["TransactionID"]),
                              f"M-Pesa reversal {result['TransactionID']}")
    return C2B_ACCEPTED


def _reverse_provider_payment(session: Session, raw: RawCallback, provider: str, original: str,
                              reversal_txn_id: str, reason: str) -> None:
    payment = session.exec(select(Payment).where(Payment.provider == provider,
                                                 Payment.provider_txn_id == original)).first()
    if payment is None:
        raise OriginalNotYetKnown(f"reversal of {provider} {original}, which we have not received")
    raw.payment_id = payment.id
    reverse(session, payment, provider=provider, reversal_txn_id=reversal_txn_id, actor=provider, reason=reason)


# ---------------------------------------------------------------------------- Africa's Talking (legacy)

_VALUE = re.compile(r"^\s*([A-Z]{3})\s+([0-9]+(?:\.[0-9]+)?)\s*$")
AT_PAYMENT_CATEGORIES = ("MobileC2B", "MobileCheckout")


def at_notification(session: Session, raw: RawCallback, settings: Settings) -> dict:
    """AT payment notification (removed from AT's SDKs in 2023; kept for lenders still on it)."""
    body = _json(raw)
    _required(body, "transactionId", "status")
    status = str(body["status"]).strip().lower()
    txn_id = str(body["transactionId"]).strip()
    if status == "reversed":
        _reverse_provider_payment(session, raw, "africastalking", txn_id, f"reversed:{txn_id}",
                                  "Africa's Talking reported the payment reversed")
        return {"status": "accepted"}
    if status != "success":
        raw.error = f"status {body['status']}: nothing to post"
        return {"status": "accepted"}
    if body.get("category") not in AT_PAYMENT_CATEGORIES:
        raw.error = f"category {body.get('category')!r} is not a payment to us: ignored"
        return {"status": "ignored"}
    _required(body, "value")
    value = _VALUE.match(str(body["value"]))
    if not value:
        raise CallbackRejected(422, "bad_amount", f"value must look like 'KES 100.0000', not {body['value']!r}")
    currency = value.group(1)
    metadata = body.get("requestMetadata") if isinstance(body.get("requestMetadata"), dict) else {}
    account_ref = str(body.get("clientAccount") or metadata.get("account_ref") or metadata.get("accountRef") or "")
    incoming = Incoming(provider="africastalking", txn_id=txn_id, amount=_amount(value.group(2), currency),
                        currency=currency, payer_phone=_payer_phone(body.get("source")), account_ref=account_ref,
                        paid_at=_at_time(body.get("transactionDate")))
    payment, _ = record_payment(session, incoming, actor="africastalking")
    raw.payment_id = payment.id
    return {"status": "accepted"}


def _at_time(value) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


# ---------------------------------------------------------------------------- callback entry point

HANDLERS = {
    ("mpesa", "c2b_validation"): mpesa_c2b_validation,
    ("mpesa", "c2b_confirmation"): mpesa_c2b_confirmation,
    ("mpesa", "stk_callback"): mpesa_stk_callback,
    ("mpesa", "reversal_result"): mpesa_reversal_result,
    ("africastalking", "notification"): at_notification,
}


def _store(settings: Settings, provider: str, kind: str, source_ip: str, body: str, status: str, error: str) -> None:
    # PostgreSQL text cannot hold NUL: kept for review with each NUL written out as "\x00".
    body = body.replace("\x00", "\\x00")
    with session_scope(settings) as session:
        raw = RawCallback(provider=provider, kind=kind, source_ip=source_ip[:64], body=body, status=status,
                          error=error[:500], processed_at=utcnow() if status == "rejected" else None)
        session.add(raw)
        session.flush()
        audit.record(session, provider, f"callback.{status}", "raw_callback", raw.id, kind=kind, error=error[:200])


def receive_callback(settings: Settings, provider: str, kind: str, body: str, source_ip: str,
                     token: str | None) -> Reply:
    """Authenticate, store and process one callback; the reply is sent only after the commit."""
    handler = HANDLERS[(provider, kind)]
    refused = authenticity.refusal(settings, provider, source_ip, token)
    try:
        if refused:
            log.warning("refused %s %s callback from %s: %s", provider, kind, source_ip, refused)
            _store(settings, provider, kind, source_ip, body[:MAX_BODY_CHARS], "rejected", f"forbidden: {refused}")
            return Reply(403, {"error": "forbidden", "detail": refused})
        if len(body) > MAX_BODY_CHARS:
            detail = f"body longer than {MAX_BODY_CHARS} characters"
            _store(settings, provider, kind, source_ip, body[:MAX_BODY_CHARS], "rejected", detail)
            return Reply(413, {"error": "too_large", "detail": detail})
        if "\x00" in body:  # never valid JSON or form data from a provider
            detail = "body contains NUL characters"
            _store(settings, provider, kind, source_ip, body, "rejected", detail)
            return Reply(400, {"error": "bad_request", "detail": detail})
        try:
            with session_scope(settings) as session:
                # Stored once, already processed, in the same transaction as what it caused (a
                # handler that fails rolls that back, and the callback is stored as failed below).
                raw = RawCallback(provider=provider, kind=kind, source_ip=source_ip[:64], body=body)
                reply = handler(session, raw, settings)
                raw.status, raw.processed_at = "processed", utcnow()
                session.add(raw)
                session.flush()
                audit.record(session, provider, "callback.processed", "raw_callback", raw.id, kind=kind,
                             payment_id=raw.payment_id, note=raw.error[:200])
            return Reply(200, reply)
        except CallbackRejected as exc:
            log.info("rejected %s %s callback: %s", provider, kind, exc.detail)
            _store(settings, provider, kind, source_ip, body, "rejected", exc.detail)
            return Reply(exc.status, exc.body)
        except Exception as exc:  # a bug or an out-of-order reversal: kept, retried by the sweeper
            if not isinstance(exc, OriginalNotYetKnown):
                log.exception("could not process %s %s callback; storing it for retry", provider, kind)
            _store(settings, provider, kind, source_ip, body, "failed", f"{type(exc).__name__}: {exc}")
            return Reply(200, C2B_ACCEPTED if provider == "mpesa" else {"status": "accepted"})
    except (SQLAlchemyError, OSError):
        # The database is unreachable: nothing is stored, so ask the provider to retry.
        log.exception("could not store %s %s callback", provider, kind)
        return Reply(503, {"error": "unavailable", "detail": "could not store the callback; retry later"})


def retry_raw_callback(settings: Settings, raw_id: int) -> str:
    """Process a stored callback whose processing failed before (the sweeper calls this)."""
    try:
        with session_scope(settings) as session:
            raw = session.exec(select(RawCallback).where(RawCallback.id == raw_id).with_for_update()).one_or_none()
            if raw is None or raw.status != "failed":
                return "nothing to do"
            raw.error = ""
            HANDLERS[(raw.provider, raw.kind)](session, raw, settings)
            raw.status, raw.processed_at, raw.attempts = "processed", utcnow(), raw.attempts + 1
            session.add(raw)
            audit.record(session, "system", "callback.retried", "raw_callback", raw.id, payment_id=raw.payment_id)
        return "processed"
    except Exception as exc:
        with session_scope(settings) as session:
            raw = session.get(RawCallback, raw_id)
            raw.attempts += 1
            raw.error = f"{type(exc).__name__}: {exc}"[:500]
            if isinstance(exc, CallbackRejected):
                raw.status = "rejected"
            session.add(raw)
        return "failed"


def failed_callback_ids(session: Session) -> list[int]:
    return list(session.exec(select(RawCallback.id).where(RawCallback.status == "failed",
                                                          RawCallback.attempts < RAW_RETRY_LIMIT)
                             .order_by(RawCallback.id)))


# ---------------------------------------------------------------------------- statement import

# M-Pesa organisation portal statement export (CSV). Only these columns are read; others ignored.
CSV_RECEIPT, CSV_TIME, CSV_PAID_IN = "Receipt No.", "Completion Time", "Paid In"
CSV_STATUS, CSV_ACCOUNT, CSV_DETAILS, CSV_OTHER_PARTY = "Transaction Status", "A/C No.", "Details", "Other Party Info"
_CSV_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%d-%m-%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M")
_ACC_IN_DETAILS = re.compile(r"Acc(?:ount)?\.?\s*(?:No\.?)?\s*[:\-]?\s*([A-Za-z0-9 \-]+)$", re.IGNORECASE)


@dataclass
class ImportReport:
    imported: int = 0
    already_known: int = 0  # same receipt already received (callback or an earlier import)
    not_paid_in: int = 0  # withdrawals, charges, incomplete transactions
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, problem)
    payment_ids: list[int] = field(default_factory=list)


def _csv_time(value: str) -> dt.datetime | None:
    for fmt in _CSV_TIME_FORMATS:
        try:
            return dt.datetime.strptime(value.strip(), fmt).replace(tzinfo=NAIROBI).astimezone(dt.timezone.utc)
        except ValueError:
            continue
    return None


def import_statement(session: Session, text: str, actor: str) -> ImportReport:
    """Rows whose receipt we already hold are skipped (the same unique constraint as callbacks);
    new ones are stored and queued for posting exactly like a C2B confirmation."""
    report = ImportReport()
    lines = text.lstrip("\ufeff").splitlines()
    header_at = next((i for i, line in enumerate(lines) if CSV_RECEIPT in line), None)
    if header_at is None:
        report.errors.append((0, f"no header row with a {CSV_RECEIPT!r} column"))
        return report
    reader = csv.DictReader(io.StringIO("\n".join(lines[header_at:])))
    missing = {CSV_RECEIPT, CSV_TIME, CSV_PAID_IN} - set(h.strip() for h in reader.fieldnames or [])
    if missing:
        report.errors.append((header_at + 1, f"missing columns: {', '.join(sorted(missing))}"))
        return report
    for number, row in enumerate(reader, start=header_at + 2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        receipt = row.get(CSV_RECEIPT, "").upper()
        if not receipt:
            continue
        paid_in = row.get(CSV_PAID_IN, "").replace(",", "")
        status = row.get(CSV_STATUS, "Completed")
        if paid_in in ("", "0", "0.00") or status.lower() != "completed":
            report.not_paid_in += 1
            continue
        try:
            amount = _amount(paid_in, "KES")
        except CallbackRejected as exc:
            report.errors.append((number, exc.detail))
            continue
        paid_at = _csv_time(row.get(CSV_TIME, ""))
        if paid_at is None:
            report.errors.append((number, f"unreadable {CSV_TIME}: {row.get(CSV_TIME)!r}"))
            continue
        account = row.get(CSV_ACCOUNT, "")
        if not account:
            found = _ACC_IN_DETAILS.search(row.get(CSV_DETAILS, ""))
            account = found.group(1) if found else ""
        other_party = row.get(CSV_OTHER_PARTY, "").split(" - ")[0].strip()
        payment, created = record_payment(session, Incoming(
            provider="mpesa", txn_id=receipt, amount=amount, currency="KES", payer_phone=_payer_phone(other_party),
            account_ref=account, paid_at=paid_at), actor=actor)
        if created:
            report.imported += 1
            report.payment_ids.append(payment.id)
        else:
            report.already_known += 1
    audit.record(session, actor, "payments.imported", "statement", "csv", imported=report.imported,
                 already_known=report.already_known, not_paid_in=report.not_paid_in, errors=len(report.errors))
    return report


def stk_callback_url(settings: Settings) -> str:
    return f"{settings.mpesa_callback_url}{STK_CALLBACK_PATH}?token={settings.mpesa_callback_token}"


def c2b_callback_urls(settings: Settings) -> tuple[str, str]:
    """(confirmation, validation) URLs to register with Safaricom, token included."""
    base = f"{settings.mpesa_callback_url}/payments/daraja/c2b"
    token = f"?token={settings.mpesa_callback_token}"
    return f"{base}/confirmation{token}", f"{base}/validation{token}"
