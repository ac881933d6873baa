"""The SMS client our send job calls, whatever the provider: `client(settings).send_sms(...)`.
A second SMS provider is one more adapter with the same `send_sms`, chosen here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.config import Settings


class ProviderUnavailable(Exception):
    """The provider could not be reached, answered with an error, or answered something we cannot
    read (not JSON, truncated, the wrong shape): try again later."""


@dataclass(frozen=True)
class SmsResult:
    phone: str
    accepted: bool  # the provider took the message for delivery
    retryable: bool  # not accepted, but worth trying again later (e.g. the provider's own fault)
    status_code: int  # the provider's code and word, kept for the record
    status: str
    message_id: str
    cost: str  # as the provider reports it, e.g. "KES 0.8000"


class SmsClient(Protocol):
    def send_sms(self, settings: Settings, phone: str, text: str) -> SmsResult: ...


def client(settings: Settings) -> SmsClient:
    from gateway.providers.africastalking import client as africastalking

    return africastalking
