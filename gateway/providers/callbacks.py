"""Every payment callback we accept, by (provider, kind). The inbox (gateway.inbox) stores and
processes them through this table; the sweeper retries the failed ones through it too."""
from gateway.providers.africastalking import payments as at_payments
from gateway.providers.mpesa import callbacks as mpesa_callbacks

PAYMENT_CALLBACKS = {**mpesa_callbacks.HANDLERS, **at_payments.HANDLERS}
