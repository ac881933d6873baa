"""Is this callback really from the provider? A per-provider secret token (header
`X-Callback-Token`, or `?token=` in the callback URL we registered) and an optional source-IP
allowlist. Fail closed: a provider with neither configured has its callbacks refused.

Providers: "mpesa" and "africastalking" (payment notifications), and "at" for Africa's Talking's
other callbacks (USSD, SMS delivery reports, inbound SMS, opt-outs, voice)."""
from __future__ import annotations

import hmac
import ipaddress

from gateway.config import Settings


def _secrets(settings: Settings, provider: str) -> tuple[str, tuple[str, ...]]:
    if provider == "mpesa":
        return settings.mpesa_callback_token, settings.mpesa_allowed_ips
    if provider == "africastalking":
        return settings.at_payments_callback_token, settings.at_payments_allowed_ips
    if provider == "at":
        return settings.at_callback_token, settings.at_allowed_ips
    return "", ()


SETTING_NAMES = {"mpesa": "MPESA_CALLBACK_TOKEN or MPESA_ALLOWED_IPS",
                 "africastalking": "AT_PAYMENTS_CALLBACK_TOKEN or AT_PAYMENTS_ALLOWED_IPS",
                 "at": "AT_CALLBACK_TOKEN or AT_ALLOWED_IPS"}


def _ip_allowed(source_ip: str, allowed: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    for entry in allowed:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def refusal(settings: Settings, provider: str, source_ip: str, token: str | None) -> str | None:
    """Why this callback must be refused, or None if it is authentic."""
    expected, allowed = _secrets(settings, provider)
    if not expected and not allowed:
        return (f"{provider} callbacks are disabled: no callback token or allowed IPs configured "
                f"({SETTING_NAMES.get(provider, 'none known')})")
    if allowed and not _ip_allowed(source_ip, allowed):
        return f"source IP {source_ip} is not allowed for {provider}"
    if expected and not hmac.compare_digest((token or "").encode(), expected.encode()):
        return "missing or wrong callback token"
    return None
