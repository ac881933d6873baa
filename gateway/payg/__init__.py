"""Pay-as-you-go solar devices and their OpenPAYGO activation codes.

Importing this package connects its handler to `gateway.signals.payment_posted`, so every
process that posts payments (the web app, the RQ worker) must import it: create_app and
gateway/workers/__init__.py do.
"""
from gateway.payg import service  # noqa: F401  (connects the payment_posted handler)
from gateway.payg.service import (
    days_left,
    entry_instructions,
    group_code,
    issue_manual_token,
    last_code,
    light,
    register_device,
    resend_last_code,
    tokens_for_payment,
)

__all__ = ["days_left", "entry_instructions", "group_code", "issue_manual_token", "last_code", "light",
           "register_device", "resend_last_code", "tokens_for_payment"]
