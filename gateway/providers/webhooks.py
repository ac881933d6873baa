"""Outbound webhooks on the wire: Slack incoming webhooks (`text` plus `blocks`) and generic JSON
receivers (HMAC-SHA256 over `timestamp + "." + body` with the endpoint's secret, in headers).

The URL is a secret (a Slack webhook URL is the credential): it is never logged, and nothing this
module returns (reasons, errors) contains it."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass

import requests

SIGNATURE_HEADER, TIMESTAMP_HEADER = "X-Gateway-Signature", "X-Gateway-Timestamp"
MAX_BLOCK_TEXT = 3000  # Slack's limit for a section's text


_posting = threading.local()


class _HideRequestLines(logging.Filter):
    """urllib3 logs each request line at DEBUG, path included: for a webhook the path is the secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_posting, "active", False)


logging.getLogger("urllib3.connectionpool").addFilter(_HideRequestLines())


@dataclass
class Outcome:
    ok: bool
    retryable: bool = False
    status_code: int | None = None
    reason: str = ""  # short and free of the URL: Slack's error word, or the kind of failure
    retry_after: int | None = None  # seconds, from Slack's 429


def slack_body(title: str, lines: list[str]) -> dict:
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:MAX_BLOCK_TEXT]}})
    return {"text": "\n".join([title, *lines]), "blocks": blocks}


def generic_body(notification_id: int, event: str, created_at: str, data: dict, title: str, lines: list[str]) -> dict:
    return {"id": notification_id, "event": event, "created_at": created_at, "data": data,
            "text": "\n".join([title, *lines])}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, tolerance: int = 300,
           now: float | None = None) -> bool:
    """What a receiver does (and our tests): the signature matches and the timestamp is recent."""
    try:
        fresh = abs((now or time.time()) - int(timestamp)) <= tolerance
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


def post(url: str, payload: dict, secret: str = "", timeout: float = 10) -> Outcome:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if secret:
        timestamp = str(int(time.time()))
        headers.update({TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, timestamp, body)})
    _posting.active = True
    try:
        r = requests.post(url, data=body, headers=headers, timeout=(3.05, timeout), allow_redirects=False)
    except requests.Timeout:
        return Outcome(False, retryable=True, reason="timeout")
    except requests.RequestException as exc:  # the exception's text would carry the URL
        return Outcome(False, retryable=True, reason=f"connection failed ({type(exc).__name__})")
    finally:
        _posting.active = False
    word = r.text.strip()[:60] if r.headers.get("Content-Type", "").startswith("text/") else ""
    if 200 <= r.status_code < 300:
        return Outcome(True, status_code=r.status_code)
    if r.status_code == 429:
        try:
            after = max(1, int(r.headers.get("Retry-After", "")))
        except ValueError:
            after = None
        return Outcome(False, retryable=True, status_code=429, reason="HTTP 429: rate limited", retry_after=after)
    word = word if word.replace("_", "").isalnum() else ""  # Slack's error word; nothing else of the body
    reason = f"HTTP {r.status_code}: {word}" if word else f"HTTP {r.status_code}"
    return Outcome(False, retryable=r.status_code >= 500 or r.status_code == 408, status_code=r.status_code,
                   reason=reason)
