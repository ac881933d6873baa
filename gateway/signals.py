"""Domain events other packages subscribe to, called inside the caller's transaction."""
from blinker import Namespace

_signals = Namespace()

# sender: the Payment; kwargs: session, entries. Sent after a payment is allocated to a loan,
# before commit: subscribers (PAYG tokens, receipts) add their rows in the same transaction.
payment_posted = _signals.signal("payment-posted")

# sender: the Payment; kwargs: session, entries (the compensating ones), previous_status. Sent
# after a payment is reversed, before commit: PAYG charges its amount to the next payments.
payment_reversed = _signals.signal("payment-reversed")
