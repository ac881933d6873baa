"""The SMS client our send job calls, whatever the provider: `client(settings).send_sms(...)`.
The interface (SmsClient, SmsResult, ProviderUnavailable) is messaging's own
(gateway/messaging/sending.py); a second SMS provider is one more adapter, chosen here."""
from __future__ import annotations

from gateway.config import Settings
from gateway.messaging.sending import ProviderUnavailable, SmsClient, SmsResult

__all__ = ["ProviderUnavailable", "SmsClient", "SmsResult", "client"]


def client(settings: Settings) -> SmsClient:
    from gateway.providers.africastalking import client as africastalking

    return africastalking
