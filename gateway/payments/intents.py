"""Payment intents: the borrower chose "Pay now" on USSD and we ask the mobile-money provider to
prompt their phone (STK push). An intent goes pending -> sending -> sent -> paid | failed; the
push job claims it first, so a rerun never prompts twice. An intent whose callback never comes is
settled from M-Pesa's status query (`settle_from_query`), or fails once M-Pesa has said "still
processing" for too long (`no_final_answer`)."""
from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import update
from sqlmodel import Session, select

from gateway import audit
from gateway.config import Settings
from gateway.db import utcnow
from gateway.lenders import partners
from gateway.messaging import queue_sms
from gateway.messaging.context import borrower_vars
from gateway.models import (
    Borrower,
    CodeKind,
    FieldPartner,
    IntentStatus,
    LenderCode,
    Loan,
    Payment,
    PaymentIntent,
    PaymentStatus,
    RawCallback,
)
from gateway.payments.events import PromptResult
from gateway.payments.posting import locked_payment, post_to_loan, record_payment

UNKNOWN_CHECKOUT = "no payment intent with this checkout request id (yet)"
NO_ANSWER = "no_answer"


def claim(session: Session, intent_id: int) -> tuple[PaymentIntent, Loan] | None:
    """pending -> sending, in the caller's own transaction; None if another run has it."""
    claimed = session.execute(update(PaymentIntent).where(PaymentIntent.id == intent_id,
                                                       PaymentIntent.status == IntentStatus.pending)
                              .values(status=IntentStatus.sending)).rowcount
    if not claimed:
        return None
    intent = session.get(PaymentIntent, intent_id)
    return intent, session.get(Loan, intent.loan_id)


def daraja_settings(session: Session, settings: Settings, loan: Loan) -> Settings:
    """The M-Pesa account that prompts for this loan: its lender's shortcode (MPESA_SHORTCODE if it is one of
    the lender's, else the paybill its SMS quote, else its first; MPESA_SHORTCODE when the lender has none) with
    that shortcode's own Daraja credentials when it has them, else the environment's. Raises
    partners.PartnerError when they cannot be decrypted."""
    lender = session.get(FieldPartner, session.get(Borrower, loan.borrower_id).field_partner_id)
    lender_id = lender.id if lender else None
    codes = list(session.exec(select(LenderCode).where(LenderCode.field_partner_id == lender_id,
                                                       LenderCode.kind == CodeKind.SHORTCODE)
                              .order_by(LenderCode.id)))
    if not codes:
        return settings
    code = next((c for c in codes if c.code == settings.mpesa_shortcode),
                next((c for c in codes if lender and c.code == lender.paybill), codes[0]))
    return settings_for_shortcode(settings, code)


def settings_for_shortcode(settings: Settings, code: LenderCode) -> Settings:
    """`settings` speaking for this shortcode: its own Daraja app's keys when it has them, else the
    environment's. Raises partners.PartnerError when they cannot be decrypted."""
    keys = partners.open_credentials(settings, code)
    own = dict(mpesa_consumer_key=keys["consumer_key"], mpesa_consumer_secret=keys["consumer_secret"],
               mpesa_passkey=keys["passkey"]) if keys else {}
    return dataclasses.replace(settings, mpesa_shortcode=code.code, **own)


def push_failed(session: Session, intent_id: int, code: str, desc: str, retry: bool, retries_left: int) -> None:
    """The push did not reach the phone. With a retry coming the intent is claimable again;
    otherwise it fails and the borrower gets an SMS saying why."""
    intent = session.get(PaymentIntent, intent_id)
    intent.result_code, intent.result_desc = code[:20], desc[:200]
    if retry:
        intent.status = IntentStatus.pending  # claimable again by the retry
        audit.record(session, "system", "payment_intent.retrying", "payment_intent", intent.id,
                     result_code=code, result_desc=desc[:200], retries_left=retries_left)
    else:
        intent.status, intent.settled_at = IntentStatus.failed, utcnow()
        audit.record(session, "system", "payment_intent.failed", "payment_intent", intent.id,
                     result_code=code, result_desc=desc[:200])
        queue_failed_sms(session, intent, session.get(Loan, intent.loan_id), code)
    session.add(intent)


def push_sent(session: Session, intent_id: int, merchant_request_id: str, checkout_request_id: str) -> PaymentIntent:
    intent = session.get(PaymentIntent, intent_id)
    intent.merchant_request_id = merchant_request_id
    intent.checkout_request_id = checkout_request_id
    intent.status = IntentStatus.sent
    session.add(intent)
    audit.record(session, "system", "payment_intent.sent", "payment_intent", intent.id,
                 checkout_request_id=checkout_request_id)
    session.flush()
    return intent


def settle_prompt(session: Session, raw: RawCallback, result: PromptResult) -> None:
    """The provider says how the prompt ended: the intent is paid (the payment is recorded and
    goes to the loan the borrower chose) or failed (the borrower gets an SMS with the reason)."""
    intent = session.exec(select(PaymentIntent).where(
        PaymentIntent.checkout_request_id == result.checkout_request_id).with_for_update()).first()
    loan = session.get(Loan, intent.loan_id) if intent else None
    if result.paid:
        incoming = dataclasses.replace(result.payment, account_ref=loan.account_ref if loan else "")
        lender_id = session.get(Borrower, loan.borrower_id).field_partner_id if loan else None
        payment, _ = record_payment(session, incoming, actor=incoming.provider, lender_id=lender_id)
        raw.payment_id = payment.id
        if intent is None:
            raw.error = UNKNOWN_CHECKOUT
        elif intent.status != IntentStatus.paid:
            _settle(session, intent, IntentStatus.paid, result, payment.id)
            _claim_for_intent_loan(session, payment, loan)
    elif intent is None:
        raw.error = UNKNOWN_CHECKOUT
    elif intent.status not in (IntentStatus.paid, IntentStatus.failed):
        _settle(session, intent, IntentStatus.failed, result, None)
        queue_failed_sms(session, intent, loan, result.result_code)


def _claim_for_intent_loan(session: Session, payment: Payment, loan: Loan) -> None:
    """A callback that beat the push job to storing the checkout request id was recorded without
    the loan; now that the intent is known, the payment goes to the loan the borrower chose."""
    payment = locked_payment(session, payment.id)
    if payment.account_ref or payment.status not in (PaymentStatus.received, PaymentStatus.suspense):
        return
    payment.account_ref = loan.account_ref
    session.add(payment)
    if payment.status == PaymentStatus.suspense and payment.currency == loan.currency:
        payment.note = ""
        post_to_loan(session, payment, loan, actor="system", rule="stk_intent")


def _settle(session: Session, intent: PaymentIntent, status: str, result: PromptResult,
            payment_id: int | None) -> None:
    intent.status = status
    intent.result_code = result.result_code
    intent.result_desc = result.result_desc[:200]
    intent.payment_id = payment_id
    intent.settled_at = utcnow()
    session.add(intent)
    audit.record(session, "mpesa", f"payment_intent.{status}", "payment_intent", intent.id,
                 result_code=result.result_code, result_desc=intent.result_desc, payment_id=payment_id)


def queue_failed_sms(session: Session, intent: PaymentIntent, loan: Loan, code: str):
    borrower = session.get(Borrower, loan.borrower_id)
    return queue_sms(session, borrower, "stk_failed", kind="transactional", dedupe_key=f"stk_failed:{intent.id}",
                     amount=intent.amount, currency=intent.currency, account_ref=loan.account_ref, code=code,
                     **borrower_vars(session, borrower))


# --- intents whose callback never came (the sweeper asks M-Pesa: gateway/workers/payments.py) ---

def waiting_for_answer(session: Session, pushed_before: dt.datetime) -> list[PaymentIntent]:
    """Intents still `sent` (the phone was prompted) that were created before `pushed_before`."""
    return list(session.exec(select(PaymentIntent).where(PaymentIntent.status == IntentStatus.sent,
                                                         PaymentIntent.created_at <= pushed_before)
                             .order_by(PaymentIntent.id)))


def settle_from_query(session: Session, intent_id: int, result_code: str, result_desc: str) -> str:
    """M-Pesa's answer to the status query: paid ("0") or failed (the borrower gets the SMS of a
    failed prompt). Paid records no payment: the query gives no receipt, and the money arrives by
    the callback or the C2B confirmation (both still settle it)."""
    intent = session.exec(select(PaymentIntent).where(PaymentIntent.id == intent_id).with_for_update()).first()
    if intent is None or intent.status != IntentStatus.sent:
        return intent.status if intent else "missing"
    intent.status = IntentStatus.paid if result_code == "0" else IntentStatus.failed
    intent.result_code, intent.result_desc, intent.settled_at = result_code[:20], result_desc[:200], utcnow()
    session.add(intent)
    audit.record(session, "mpesa", f"payment_intent.{intent.status}", "payment_intent", intent.id,
                 result_code=result_code, result_desc=intent.result_desc, via="stk_query")
    if intent.status == IntentStatus.failed:
        queue_failed_sms(session, intent, session.get(Loan, intent.loan_id), result_code)
    return intent.status


def no_final_answer(session: Session, intent_id: int) -> str:
    """M-Pesa still says "being processed" after STK_QUERY_GIVE_UP_MINUTES: the intent fails
    without an SMS (a late callback or C2B confirmation still records the money)."""
    intent = session.exec(select(PaymentIntent).where(PaymentIntent.id == intent_id).with_for_update()).first()
    if intent is None or intent.status != IntentStatus.sent:
        return intent.status if intent else "missing"
    intent.status, intent.result_code, intent.settled_at = IntentStatus.failed, NO_ANSWER, utcnow()
    intent.result_desc = "M-Pesa gave no final answer"
    session.add(intent)
    audit.record(session, "system", "payment_intent.failed", "payment_intent", intent.id, result_code=NO_ANSWER)
    return intent.status
