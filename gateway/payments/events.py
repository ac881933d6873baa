"""What the providers' adapters (gateway/providers/) hand to the payments domain: money that
arrived, the outcome of an STK prompt, a reversal. No provider's wire words beyond this point."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


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
    shortcode: str = ""  # the paybill or till paid (selects the lender); "" when the provider does not say


@dataclass(frozen=True)
class PromptResult:
    """How an STK prompt ended: paid (with the payment, its account left for the intent to
    fill in) or not, with the provider's result code and text."""

    checkout_request_id: str
    result_code: str  # "0" when paid
    result_desc: str
    payment: Incoming | None = None

    @property
    def paid(self) -> bool:
        return self.payment is not None


@dataclass(frozen=True)
class Reversal:
    """The provider took back payment `original_txn_id` (its reversal is `reversal_txn_id`)."""

    provider: str
    original_txn_id: str
    reversal_txn_id: str
    reason: str
