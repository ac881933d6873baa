"""Pay-as-you-go solar: every payment buys days of light, delivered as an OpenPAYGO code.

The device and the gateway each keep the same counter. Each code is made from the device's
secret key, the next count and a value (days), so the device accepts it once, in order, and
refuses it afterwards as already used. The count is the one thing two codes must never share:
it is taken under a lock on the device row and protected by a unique (device, count) constraint.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import openpaygo
from openpaygo import TokenType
from sqlmodel import Session, select

from gateway import audit, signals
from gateway.db import utcnow
from gateway.i18n import Speaker
from gateway.messaging import payment_message_key, queue_sms, render
from gateway.models import Borrower, Device, FieldPartner, Loan, LoanStatus, Message, PaygToken, Payment, Product
from gateway.payg import keys

log = logging.getLogger(__name__)

MAX_DAYS_PER_CODE = 995  # OpenPAYGO Token's largest ADD_TIME value
KINDS = {"add_time": TokenType.ADD_TIME, "disable": TokenType.DISABLE_PAYG,
         "counter_sync": TokenType.COUNTER_SYNC}


class PaygError(ValueError):
    pass


class DeviceNotFound(PaygError):
    pass


class Conflict(PaygError):
    pass


def group_code(token: str) -> str:
    """'123456789' -> '123 456 789': easier to read off a phone and type on a keypad."""
    return " ".join(token[i:i + 3] for i in range(0, len(token), 3))


def entry_instructions(speaker: Speaker) -> str:
    """How to type a code on the device keypad, in the speaker's language (for the welcome SMS)."""
    return render("payg_entry", speaker)


def device_for_loan(session: Session, loan_id: int, *, lock: bool = False) -> Device | None:
    query = select(Device).where(Device.loan_id == loan_id)
    if lock:  # row lock on PostgreSQL; SQLite already serialises writers (BEGIN IMMEDIATE)
        query = query.with_for_update()
    return session.exec(query).first()


def register_device(session: Session, loan: Loan, serial: str, secret_key: str, daily_rate: int, *,
                    restricted_digits: bool = False, starting_code: int | None = None,
                    agent_id: int | None = None, actor: str = "system") -> Device:
    """Link an installed device to a loan; the borrower gets an SMS on how to use codes."""
    serial = (serial or "").strip().upper() if isinstance(serial, str) else ""
    if not serial or len(serial) > 40:
        raise PaygError("serial is required (at most 40 characters)")
    try:
        encrypted = keys.encrypt(secret_key)
    except keys.DeviceKeyError as exc:
        raise PaygError(str(exc)) from None
    if not isinstance(daily_rate, int) or isinstance(daily_rate, bool) or daily_rate <= 0:
        raise PaygError("daily_rate must be a positive amount")
    if starting_code is not None and not (isinstance(starting_code, int) and 0 <= starting_code <= 999_999_999):
        raise PaygError("starting_code must be a number of at most 9 digits")
    if loan.status != LoanStatus.active:
        raise Conflict(f"loan {loan.account_ref} is {loan.status}, not active")
    if not is_payg_loan(session, loan):
        raise Conflict(f"loan {loan.account_ref} is a {loan.product!r} loan, not of a PAYG product: "
                       "no device goes with it")
    if device_for_loan(session, loan.id):
        raise Conflict(f"loan {loan.account_ref} already has a device")
    if session.exec(select(Device.id).where(Device.serial == serial)).first():
        raise Conflict(f"device {serial} is already registered")
    device = Device(loan_id=loan.id, serial=serial, secret_key_encrypted=encrypted, starting_code=starting_code,
                    daily_rate=daily_rate, restricted_digits=bool(restricted_digits), installed_by_agent_id=agent_id)
    session.add(device)
    session.flush()
    audit.record(session, actor, "payg.device_registered", "device", device.id, loan_id=loan.id, serial=serial,
                 daily_rate=daily_rate, restricted_digits=device.restricted_digits)
    borrower = session.get(Borrower, loan.borrower_id)
    queue_sms(session, borrower, "payg_device_registered", kind="transactional",
              dedupe_key=f"payg-device:{device.id}", lender=_lender(session, borrower),
              serial=serial, account_ref=loan.account_ref)
    return device


def is_payg_loan(session: Session, loan: Loan) -> bool:
    """Whether the loan's product (its lender's, active or not) is a PAYG one (gateway product --payg)."""
    partner_id = session.exec(select(Borrower.field_partner_id).where(Borrower.id == loan.borrower_id)).one()
    wanted = " ".join(loan.product.split()).casefold()
    return any(p.payg for p in session.exec(select(Product).where(Product.field_partner_id == partner_id))
               if p.code.casefold() == wanted)


def _lender(session: Session, borrower: Borrower) -> str:
    return session.get(FieldPartner, borrower.field_partner_id).name


def _local_today(borrower: Borrower) -> dt.date:
    return Speaker.for_borrower(borrower).today()


def _issue(session: Session, device: Device, kind: str, days: int, *, payment_id: int | None = None,
           part: int = 0, issued_by: str = "system", reason: str = "") -> PaygToken:
    """Make the next code for a locked device and store it; the caller holds the device lock."""
    token_type = KINDS[kind]
    secret = keys.decrypt(device.secret_key_encrypted)
    new_count, code = openpaygo.generate_token(
        secret_key=secret, count=device.token_count, value=days if kind == "add_time" else None,
        token_type=token_type, starting_code=device.starting_code,
        restricted_digit_set=device.restricted_digits)
    device.token_count = new_count
    token = PaygToken(device_id=device.id, count=new_count, payment_id=payment_id, part=part, token=code,
                      days=days, kind=kind, issued_by=issued_by, reason=reason)
    session.add_all([device, token])
    session.flush()  # a second code with the same count fails here, not silently
    audit.record(session, issued_by, f"payg.token_{kind}", "device", device.id, count=new_count, days=days,
                 payment_id=payment_id, reason=reason)
    return token


def _add_days(device: Device, days: int, today: dt.date) -> None:
    device.days_credited += days
    start = max(device.credit_until or today, today)
    device.credit_until = start + dt.timedelta(days=days)


def tokens_for_payment(session: Session, payment: Payment) -> list[PaygToken]:
    """Codes bought by a payment just posted to a loan (called inside the posting transaction).

    Money becomes days at the device's daily rate; what is short of a full day is carried to the
    next payment. A payment that repays the loan gets the code that unlocks the device for good.
    """
    # post_payment holds the loan's row lock; the device's comes second (same order everywhere).
    device = device_for_loan(session, payment.loan_id, lock=True)
    if device is None:
        return []
    # Guard: a payment buys its codes (or its carried credit) once, whatever calls us again. Its
    # SMS, stored in the same transaction, marks it done even when it bought less than a day.
    existing = list(session.exec(select(PaygToken).where(PaygToken.payment_id == payment.id)
                                 .order_by(PaygToken.part)))
    if existing or texted_about(session, payment.id):
        return existing
    if device.payg_disabled:
        return []  # already unlocked for good
    loan = session.get(Loan, payment.loan_id)
    borrower = session.get(Borrower, loan.borrower_id)
    common = dict(kind="transactional", dedupe_key=payment_message_key(payment.id), lender=_lender(session, borrower),
                  amount=payment.amount, currency=payment.currency)
    if loan.status == LoanStatus.repaid:
        token = _issue(session, device, "disable", 0, payment_id=payment.id)
        device.payg_disabled = True
        device.leftover = 0
        session.add(device)
        queue_sms(session, borrower, "payg_unlocked", code=group_code(token.token), **common)
        return [token]

    # leftover is below zero while a reversed payment's days are still being paid back
    total = payment.amount + device.leftover
    days, device.leftover = divmod(total, device.daily_rate) if total > 0 else (0, total)
    session.add(device)
    if days == 0:
        queue_sms(session, borrower, "payg_credit_carried", daily_rate=device.daily_rate,
                  short=device.daily_rate - device.leftover, **common)
        return []
    tokens = []
    left = days
    while left:  # one code carries at most 995 days
        chunk = min(left, MAX_DAYS_PER_CODE)
        tokens.append(_issue(session, device, "add_time", chunk, payment_id=payment.id, part=len(tokens)))
        left -= chunk
    _add_days(device, days, _local_today(borrower))
    session.add(device)
    queue_sms(session, borrower, "payg_token", codes=[group_code(t.token) for t in tokens], days=days,
              until=device.credit_until, **common)
    return tokens


def texted_about(session: Session, payment_id: int) -> bool:
    """Whether the borrower already got this payment's SMS. A PAYG SMS (code, unlock or carried
    credit) takes the payment's one SMS key, so it doubles as the receipt (gateway.payments.posting)."""
    key = payment_message_key(payment_id)
    return session.exec(select(Message.id).where(Message.dedupe_key == key)).first() is not None


@signals.payment_posted.connect
def _on_payment_posted(payment: Payment, session: Session, **_kw) -> None:
    tokens_for_payment(session, payment)


def charge_reversed_payment(session: Session, payment: Payment) -> None:
    """A posted payment was reversed (called inside the reversal's transaction). Codes cannot be
    taken back from a device (its days of light stay), so the money is charged to the next
    payments instead: the leftover goes down by the payment's amount, below zero if need be."""
    device = device_for_loan(session, payment.loan_id, lock=True)
    if device is None:
        return
    tokens = list(session.exec(select(PaygToken).where(PaygToken.payment_id == payment.id)))
    days = sum(t.days for t in tokens if t.kind == "add_time")
    device.leftover -= payment.amount
    session.add(device)
    audit.record(session, "system", "payg.payment_reversed", "device", device.id, payment_id=payment.id,
                 amount=payment.amount, days=days, leftover=device.leftover,
                 # an unlock code already sent cannot be undone: operators must follow up
                 unlocked_already=any(t.kind == "disable" for t in tokens))


@signals.payment_reversed.connect
def _on_payment_reversed(payment: Payment, session: Session, previous_status: str, **_kw) -> None:
    if previous_status == "posted":
        charge_reversed_payment(session, payment)


def issue_manual_token(session: Session, serial: str, kind: str, *, days: int = 0, reason: str,
                       actor: str) -> PaygToken:
    """An operator's code: goodwill days, a counter sync, or unlocking a device for good."""
    if kind not in KINDS:
        raise PaygError(f"kind must be one of {', '.join(KINDS)}")
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason or len(reason) > 300:
        raise PaygError("reason is required (at most 300 characters)")
    if kind == "add_time":
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS_PER_CODE:
            raise PaygError(f"days must be a whole number from 1 to {MAX_DAYS_PER_CODE}")
    else:
        days = 0
    serial = serial.strip().upper()
    loan_id = session.exec(select(Device.loan_id).where(Device.serial == serial)).first()
    if loan_id is None:
        raise DeviceNotFound(f"no device {serial}")
    # Lock in the order a payment does (loan, then device): the reverse order deadlocks on
    # PostgreSQL, since updating the device row twice re-checks its foreign key to the loan.
    loan = session.exec(select(Loan).where(Loan.id == loan_id).with_for_update()).one()
    device = device_for_loan(session, loan.id, lock=True)
    if device.payg_disabled and kind != "disable":
        raise Conflict(f"device {serial} is already unlocked for good")
    token = _issue(session, device, kind, days, issued_by=actor, reason=reason)
    borrower = session.get(Borrower, loan.borrower_id)
    if kind == "add_time":
        _add_days(device, days, _local_today(borrower))
    elif kind == "disable":
        device.payg_disabled = True
    session.add(device)
    queue_sms(session, borrower, "payg_manual", kind="transactional", dedupe_key=f"payg-manual:{token.id}",
              lender=_lender(session, borrower), code=group_code(token.token), token_kind=kind, days=days)
    return token


def last_code(session: Session, loan: Loan) -> PaygToken | None:
    """The most recent code sent for the loan's device (None: not PAYG, or no code yet)."""
    device = device_for_loan(session, loan.id)
    if device is None:
        return None
    return session.exec(select(PaygToken).where(PaygToken.device_id == device.id)
                        .order_by(PaygToken.count.desc())).first()


@dataclass(frozen=True)
class Resend:
    token: PaygToken | None  # the last code, None if none was ever made
    sent: bool  # texted now
    last_sent_at: dt.datetime | None  # when it was last texted (now, if sent)


def resend_last_code(session: Session, loan: Loan, request_ref: str, *, every: dt.timedelta = dt.timedelta(0),
                     now: dt.datetime | None = None) -> Resend:
    """Text the last code again, at most once per request (e.g. the USSD session id) and once per
    `every` (PAYG_CODE_RESEND_MINUTES): pressing "My last code" again and again sends one SMS."""
    token = last_code(session, loan)
    if token is None:
        return Resend(None, False, None)
    borrower = session.get(Borrower, loan.borrower_id)
    last = session.exec(select(Message.created_at).where(
        Message.borrower_id == borrower.id, Message.template == "payg_last_code")
        .order_by(Message.created_at.desc())).first()
    if last is not None and (now or utcnow()) - last < every:
        return Resend(token, False, last)
    message = queue_sms(session, borrower, "payg_last_code", kind="transactional",
                        dedupe_key=f"payg-resend:{token.id}:{request_ref}"[:160], lender=_lender(session, borrower),
                        code=group_code(token.token), unlocked=token.kind == "disable")
    return Resend(token, True, message.created_at)


@dataclass(frozen=True)
class Light:
    """What the borrower's device should have, as the gateway reckons it."""

    days_left: int
    credit_until: dt.date | None
    unlocked: bool  # paid off: no more codes needed


def light(session: Session, loan: Loan, today: dt.date) -> Light | None:
    device = device_for_loan(session, loan.id)
    return None if device is None else light_of(device.credit_until, device.payg_disabled, today)


def light_of(credit_until: dt.date | None, unlocked: bool, today: dt.date) -> Light:
    return Light(days_left=max((credit_until - today).days, 0) if credit_until else 0, credit_until=credit_until,
                 unlocked=unlocked)


def days_left(session: Session, loan: Loan, today: dt.date) -> int | None:
    """Days of light left on a PAYG loan's device (None: not a PAYG loan)."""
    status = light(session, loan, today)
    return None if status is None else status.days_left
