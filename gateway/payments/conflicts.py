"""The same receipt reported again with a different amount, currency or account: the provider is
answered as for any duplicate (it must stop retrying), the first version stays the payment, and
the other version is kept as a PaymentConflict and flagged for an operator on the loan."""
from __future__ import annotations

import logging

from sqlmodel import Session

from gateway import audit
from gateway.borrowers.accounts import normalize_account_ref
from gateway.i18n import N_
from gateway.inbox import insert_once
from gateway.models import Payment, PaymentConflict
from gateway.money import from_minor
from gateway.ops import flags
from gateway.payments import matching
from gateway.payments.events import Incoming

log = logging.getLogger(__name__)


def _same_account(kept: str, other: str) -> bool:
    """Empty says nothing (an STK result names no account), and STK push cuts the account
    reference it sends to 12 characters: a cut-off version is the same account."""
    a, b = normalize_account_ref(kept), normalize_account_ref(other)
    return not a or not b or a.startswith(b) or b.startswith(a)


def conflicts(payment: Payment, incoming: Incoming) -> bool:
    return ((payment.amount, payment.currency) != (incoming.amount, incoming.currency)
            or not _same_account(payment.account_ref, incoming.account_ref))


def _shown(amount: int, currency: str) -> str:
    return f"{currency} {from_minor(amount, currency)}"


def keep_conflict(session: Session, payment: Payment, incoming: Incoming, actor: str) -> PaymentConflict | None:
    """Keep the other version once and flag it; None when this version was kept already."""
    row = PaymentConflict(payment_id=payment.id, amount=incoming.amount, currency=incoming.currency,
                          account_ref=incoming.account_ref[:40], payer_phone=incoming.payer_phone[:32])
    if not insert_once(session, row):
        return None
    log.warning("payment %s %s seen again with other details: %s %s for %r (kept %s %s for %r): flagged",
                payment.provider, payment.provider_txn_id, incoming.amount, incoming.currency, row.account_ref,
                payment.amount, payment.currency, payment.account_ref)
    audit.record(session, actor, "payment.conflict", "payment", payment.id, conflict_id=row.id,
                 provider_txn_id=payment.provider_txn_id, amount=incoming.amount, currency=incoming.currency,
                 account_ref=row.account_ref, kept_amount=payment.amount, kept_currency=payment.currency,
                 kept_account_ref=payment.account_ref)
    loan_id = payment.loan_id or getattr(matching.match(session, payment).loan, "id", None)
    flags.raise_flag(
        session, "conflicting_duplicate", str(row.id),
        N_("receipt {receipt} reported twice: kept {kept} for account {kept_account}, "
           "then {other} for account {other_account}"),
        {"receipt": payment.provider_txn_id, "kept": _shown(payment.amount, payment.currency),
         "kept_account": payment.account_ref or "-", "other": _shown(incoming.amount, incoming.currency),
         "other_account": row.account_ref or "-"},
        loan_id=loan_id, payment_id=payment.id, actor=actor, conflict_id=row.id)
    return row
