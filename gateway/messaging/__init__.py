"""Outgoing SMS: render a template in the borrower's language, store the Message, queue the send."""
from gateway.messaging.compose import gsm7, payment_message_key, queue_sms, render, sms_encoding

__all__ = ["gsm7", "payment_message_key", "queue_sms", "render", "sms_encoding"]
