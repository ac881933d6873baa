"""Outgoing SMS: render a template in the borrower's language, store the Message, queue the send."""
from gateway.messaging.compose import queue_sms, render, sms_encoding

__all__ = ["queue_sms", "render", "sms_encoding"]
