"""Domain events other packages subscribe to, called inside the caller's transaction."""
from blinker import Namespace

_signals = Namespace()

# sender: the Payment; kwargs: session, entries. Sent after a payment is allocated to a loan,
# before commit: subscribers (PAYG tokens, receipts) add their rows in the same transaction.
payment_posted = _signals.signal("payment-posted")

# sender: the Payment; kwargs: session, entries (the compensating ones), previous_status. Sent
# after a payment is reversed, before commit: PAYG charges its amount to the next payments.
payment_reversed = _signals.signal("payment-reversed")

# sender: the Flag; kwargs: session. Sent once when a flag is raised, before commit.
flag_raised = _signals.signal("flag-raised")

# sender: the Loan; kwargs: session. Sent when a payment's allocation repays the loan, before commit.
loan_repaid = _signals.signal("loan-repaid")

# Subscribers connected wherever a signal can be sent (web, workers, CLI):
import gateway.notify.events  # noqa: E402,F401  (outbound webhooks: notifications stored in the outbox)
