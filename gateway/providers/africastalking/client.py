"""Africa's Talking SMS and Voice through the official `africastalking` SDK.

The SDK has no host setting and no retries: we point its service objects at the configured base
URLs (`_baseUrl`, read by every request it builds) and own timeouts and retries ourselves.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import africastalking
import requests
from africastalking.Service import AfricasTalkingException

from gateway.config import Settings
from gateway.messaging.sending import ProviderUnavailable, SmsResult

CONNECT_TIMEOUT = 3.05

# Per-recipient statusCodes (providers.md). Accepted means AT took the message.
ACCEPTED = {100: "Processed", 101: "Sent", 102: "Queued"}
# Worth trying again later: AT or the gateway had a problem, or our account ran dry.
RETRYABLE = {405: "InsufficientBalance", 500: "InternalServerError", 501: "GatewayError", 502: "RejectedByGateway"}
# Anything else (401 RiskHold, 402 InvalidSenderId, 403 InvalidPhoneNumber, 404 UnsupportedNumberType,
# 406 UserInBlacklist, 407 CouldNotRoute, 409 DoNotDisturbRejection) will fail the same way again.

LIVE = {"sms": "https://api.africastalking.com/version1", "voice": "https://voice.africastalking.com"}
SANDBOX = {"sms": "https://api.sandbox.africastalking.com/version1", "voice": "https://voice.sandbox.africastalking.com"}

_lock = threading.Lock()
_configured: tuple | None = None


def _snippet(value, limit: int = 120) -> str:
    """The start of what AT sent, on one line, for an error message a person can read."""
    text = value if isinstance(value, str) else json.dumps(value)
    return " ".join(text.split())[:limit] or "(empty body)"


@dataclass(frozen=True)
class CallResult:
    phone: str
    status: str  # "Queued" when AT will place the call
    session_id: str
    error: str


def _services(settings: Settings):
    """The SDK's module-level SMS and Voice objects, initialised once per configuration."""
    global _configured
    key = (settings.at_username, settings.at_api_key, settings.at_sms_base_url, settings.at_voice_base_url)
    with _lock:
        if _configured != key or africastalking.SMS is None:
            africastalking.initialize(settings.at_username, settings.at_api_key)
            # initialize() resets the hosts, so set them every time (SDK 2.0.x quirk).
            hosts = SANDBOX if settings.at_username == "sandbox" else LIVE
            africastalking.SMS._baseUrl = (settings.at_sms_base_url or hosts["sms"]).rstrip("/")
            africastalking.Voice._baseUrl = (settings.at_voice_base_url or hosts["voice"]).rstrip("/")
            _configured = key
        return africastalking.SMS, africastalking.Voice


def _call(fn, *args, settings: Settings, **kwargs):
    try:
        reply = fn(*args, timeout=(CONNECT_TIMEOUT, settings.at_timeout_seconds), **kwargs)
    except AfricasTalkingException as exc:  # non-2xx from AT
        raise ProviderUnavailable(f"Africa's Talking refused the request: {_snippet(str(exc), 200)}") from None
    except requests.JSONDecodeError as exc:  # application/json, but not JSON (e.g. cut off)
        body = _snippet(getattr(exc, "doc", ""))
        raise ProviderUnavailable(f"Africa's Talking answered malformed JSON: {body}") from None
    except requests.Timeout:
        raise ProviderUnavailable(f"Africa's Talking did not answer within {settings.at_timeout_seconds:g} s") from None
    except Exception as exc:  # requests' connection errors
        raise ProviderUnavailable(f"Africa's Talking unreachable: {type(exc).__name__}") from None
    if isinstance(reply, str):  # the SDK returns text unless content-type is exactly application/json
        raise ProviderUnavailable(f"Africa's Talking answered text, not JSON: {_snippet(reply)}")
    if not isinstance(reply, dict):
        raise ProviderUnavailable(f"Africa's Talking answered a JSON {type(reply).__name__}, not an object: "
                                  f"{_snippet(reply)}")
    return reply


def send_sms(settings: Settings, phone: str, text: str, sender_id: str = "") -> SmsResult:
    """`sender_id`: the lender's alphanumeric sender id or shortcode; empty: AT_SENDER_ID (or AT's default)."""
    sms, _ = _services(settings)
    reply = _call(sms.send, text, [phone], sender_id=sender_id or settings.at_sender_id or None, settings=settings)
    data = reply.get("SMSMessageData")
    recipients = data.get("Recipients") if isinstance(data, dict) else None
    if not isinstance(recipients, list):
        raise ProviderUnavailable(f"Africa's Talking's reply has no Recipients list: "
                                  f"{_snippet(reply)}")
    if not recipients:
        # AT answers with no recipients when it rejects the whole request (e.g. bad sender id)
        message = str(data.get("Message", ""))[:60]
        return SmsResult(phone, False, False, 0, message or "NoRecipients", "", "")
    r = recipients[0]
    try:
        status_code = int(r["statusCode"])
    except (KeyError, TypeError, ValueError):
        raise ProviderUnavailable(f"Africa's Talking's reply has no recipient statusCode: "
                                  f"{_snippet(reply)}") from None
    return SmsResult(phone=str(r.get("number") or phone), accepted=status_code in ACCEPTED,
                     retryable=status_code in RETRYABLE, status_code=status_code,
                     status=str(r.get("status", "")), message_id=str(r.get("messageId") or ""),
                     cost=str(r.get("cost") or ""))


def call(settings: Settings, phone: str) -> CallResult:
    _, voice = _services(settings)
    reply = _call(voice.call, settings.at_voice_number, [phone], settings=settings)
    entries = reply.get("entries") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ProviderUnavailable(f"Africa's Talking's call reply has no entries list: {_snippet(reply)}")
    error = str(reply.get("errorMessage") or "None")
    if not entries:
        return CallResult(phone, "Failed", "", error)
    e = entries[0]
    return CallResult(phone=e.get("phoneNumber", phone), status=str(e.get("status", "")),
                      session_id=str(e.get("sessionId") or ""), error=error)
