"""Outgoing SMS: render a template in the borrower's language, store the Message, queue the send."""
from gateway.messaging.compose import gsm7, queue_sms, render, sms_encoding

__all__ = ["gsm7", "queue_sms", "render", "sms_encoding"]
