"""Safaricom M-Pesa Daraja client: OAuth token, STK push (Lipa na M-Pesa Online) and its status query.

Plain `requests` against MPESA_BASE_URL (the sandbox by default; a local stand-in in tests).
Wire format as Safaricom documents it; see /work/shared/providers.md.
"""
from __future__ import annotations

import base64
import datetime as dt
import threading
import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import requests

from gateway.config import Settings
from gateway.money import from_minor

NAIROBI = ZoneInfo("Africa/Nairobi")  # Daraja timestamps are Kenyan local time
ACCOUNT_REFERENCE_MAX = 12
TRANSACTION_DESC_MAX = 13


class MpesaError(Exception):
    """Daraja refused, could not be reached, or answered something unreadable. `code` is Daraja's
    errorCode/ResponseCode if any, else ours ("unreachable", "bad_reply", ...). `retryable`: no
    request that could prompt the payer went out (the OAuth step failed), so trying again later is
    safe; once an STK push request has been sent it is never sent again (a second prompt could
    make the borrower pay twice)."""

    def __init__(self, message: str, code: str = "", retryable: bool = False):
        super().__init__(message)
        self.code = code
        self.retryable = retryable


def _snippet(text: str, limit: int = 120) -> str:
    """The start of a body, on one line, for an error message a person can read."""
    return " ".join((text or "").split())[:limit] or "(empty body)"


def _transport_error(exc: requests.RequestException, what: str, timeout: float, retryable: bool) -> MpesaError:
    if isinstance(exc, requests.Timeout):
        message = f"M-Pesa {what} did not answer within {timeout:g} s"
    else:
        message = f"M-Pesa {what} unreachable: {exc}"
    return MpesaError(message, code="unreachable", retryable=retryable)


def _json_object(res: requests.Response) -> dict | None:
    """The body as a JSON object, or None (not JSON, truncated, or a list/string/number)."""
    try:
        body = res.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


@dataclass(frozen=True)
class StkPushReply:
    merchant_request_id: str
    checkout_request_id: str
    response_code: str
    response_description: str
    customer_message: str


STILL_PROCESSING = "500.001.1001"  # the STK query's answer while the prompt is still open


@dataclass(frozen=True)
class StkQueryReply:
    result_code: str | None  # the callback's ResultCode ("0" paid, "1032" cancelled, ...); None: still open
    result_desc: str


def timestamp(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).astimezone(NAIROBI).strftime("%Y%m%d%H%M%S")


def stk_password(shortcode: str, passkey: str, ts: str) -> str:
    """base64(Shortcode + Passkey + Timestamp), as the STK push API documents it."""
    return base64.b64encode(f"{shortcode}{passkey}{ts}".encode()).decode()


_tokens: dict[tuple[str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


class DarajaClient:
    def __init__(self, settings: Settings, http: requests.Session | None = None):
        self.settings = settings
        self.base = settings.mpesa_base_url.rstrip("/")
        self.http = http or requests.Session()
        self.timeout = settings.mpesa_timeout_seconds

    def _check_configured(self) -> None:
        s = self.settings
        missing = [name for name, value in (("MPESA_CONSUMER_KEY", s.mpesa_consumer_key),
                                            ("MPESA_CONSUMER_SECRET", s.mpesa_consumer_secret),
                                            ("MPESA_SHORTCODE", s.mpesa_shortcode),
                                            ("MPESA_PASSKEY", s.mpesa_passkey),
                                            ("MPESA_CALLBACK_URL", s.mpesa_callback_url)) if not value]
        if missing:
            raise MpesaError(f"M-Pesa is not configured: set {', '.join(missing)}", code="not_configured")

    def access_token(self) -> str:
        """OAuth client-credentials token, cached per process until shortly before it expires."""
        key = (self.base, self.settings.mpesa_consumer_key)
        with _tokens_lock:
            cached = _tokens.get(key)
            if cached and cached[1] > time.monotonic():
                return cached[0]
        # Nothing has been sent to the payer yet: every failure here but wrong credentials is retryable.
        try:
            res = self.http.get(f"{self.base}/oauth/v1/generate", params={"grant_type": "client_credentials"},
                                auth=(self.settings.mpesa_consumer_key, self.settings.mpesa_consumer_secret),
                                timeout=self.timeout)
        except requests.RequestException as exc:
            raise _transport_error(exc, "OAuth", self.timeout, retryable=True) from exc
        if res.status_code != 200:
            raise MpesaError(f"M-Pesa OAuth refused ({res.status_code}): {_snippet(res.text, 200)}",
                             code=str(res.status_code), retryable=res.status_code >= 500)
        body = _json_object(res) or {}
        token = body.get("access_token")
        try:
            expires_in = int(body.get("expires_in", 3599))
        except (ValueError, TypeError):
            expires_in = None
        if not isinstance(token, str) or not token or expires_in is None:
            raise MpesaError(f"M-Pesa OAuth answered without a usable access_token (HTTP {res.status_code}, "
                             f"{res.headers.get('Content-Type') or 'no content type'}): {_snippet(res.text)}",
                             code="bad_reply", retryable=True)
        with _tokens_lock:
            _tokens[key] = (token, time.monotonic() + max(expires_in - 60, 0))
        return token

    def stk_push(self, *, phone: str, amount_minor: int, currency: str, account_reference: str,
                 description: str, callback_url: str, now: dt.datetime | None = None) -> StkPushReply:
        """Ask Safaricom to prompt the payer's phone for their M-Pesa PIN."""
        self._check_configured()
        if currency != "KES":
            raise MpesaError(f"M-Pesa STK push takes KES, not {currency}", code="currency")
        amount = from_minor(amount_minor, currency)
        if amount <= 0 or amount != amount.to_integral_value():
            raise MpesaError(f"M-Pesa STK push takes whole shillings, not {amount}", code="amount")
        s = self.settings
        ts = timestamp(now)
        msisdn = phone.lstrip("+")
        payload = {
            "BusinessShortCode": s.mpesa_shortcode,
            "Password": stk_password(s.mpesa_shortcode, s.mpesa_passkey, ts),
            "Timestamp": ts,
            "TransactionType": "CustomerPayBillOnline",
            "Amount": int(amount),
            "PartyA": msisdn,
            "PartyB": s.mpesa_shortcode,
            "PhoneNumber": msisdn,
            "CallBackURL": callback_url,
            "AccountReference": account_reference[:ACCOUNT_REFERENCE_MAX],
            "TransactionDesc": description[:TRANSACTION_DESC_MAX],
        }
        body = self._post("/mpesa/stkpush/v1/processrequest", payload, "STK push")
        if not body.get("CheckoutRequestID"):  # accepted, but the callback could not be matched to the intent
            raise MpesaError(f"M-Pesa STK push answered without a CheckoutRequestID: {_snippet(str(body))}",
                             code="bad_reply")
        return StkPushReply(merchant_request_id=str(body.get("MerchantRequestID", "")),
                            checkout_request_id=str(body.get("CheckoutRequestID", "")),
                            response_code="0", response_description=str(body.get("ResponseDescription", "")),
                            customer_message=str(body.get("CustomerMessage", "")))

    def stk_query(self, checkout_request_id: str, now: dt.datetime | None = None) -> StkQueryReply:
        """How did this STK push end? (STK Push Query, for a push whose callback never came.)
        No receipt number here: a paid push's money arrives by the callback or the C2B confirmation."""
        self._check_configured()
        s = self.settings
        ts = timestamp(now)
        payload = {"BusinessShortCode": s.mpesa_shortcode,
                   "Password": stk_password(s.mpesa_shortcode, s.mpesa_passkey, ts),
                   "Timestamp": ts, "CheckoutRequestID": checkout_request_id}
        try:
            body = self._post("/mpesa/stkpushquery/v1/query", payload, "STK query")
        except MpesaError as exc:
            if exc.code == STILL_PROCESSING:
                return StkQueryReply(None, str(exc))
            raise
        code = body.get("ResultCode")
        if code is None or not str(code).strip().isdigit():
            raise MpesaError(f"M-Pesa STK query answered without a ResultCode: {_snippet(str(body))}", code="bad_reply")
        return StkQueryReply(str(code).strip(), str(body.get("ResultDesc", ""))[:200])

    def register_c2b_urls(self, *, confirmation_url: str, validation_url: str,
                          response_type: str = "Completed") -> dict:
        """Tell Safaricom where to send paybill callbacks. `response_type` is what M-Pesa does
        when our validation URL does not answer in time: "Completed" or "Cancelled"."""
        if response_type not in ("Completed", "Cancelled"):
            raise MpesaError("ResponseType must be Completed or Cancelled", code="bad_request")
        payload = {"ShortCode": self.settings.mpesa_shortcode, "ResponseType": response_type,
                   "ConfirmationURL": confirmation_url, "ValidationURL": validation_url}
        body = self._post("/mpesa/c2b/v2/registerurl", payload, "C2B register")
        return body

    def _post(self, path: str, payload: dict, what: str) -> dict:
        """An authenticated Daraja call; MpesaError unless HTTP 200 with a JSON object whose
        ResponseCode is "0". Failures after the request went out are not retryable."""
        headers = {"Authorization": f"Bearer {self.access_token()}"}
        try:
            res = self.http.post(f"{self.base}{path}", json=payload, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise _transport_error(exc, what, self.timeout, retryable=False) from exc
        body = _json_object(res)
        if res.status_code == 200 and body is None:
            ctype = res.headers.get("Content-Type") or "no content type"
            raise MpesaError(f"M-Pesa {what} answered HTTP 200 but no JSON object ({ctype}): {_snippet(res.text)}",
                             code="bad_reply")
        if res.status_code == 200 and "ResponseCode" not in body:
            raise MpesaError(f"M-Pesa {what} answered HTTP 200 without a ResponseCode: {_snippet(res.text)}",
                             code="bad_reply")
        body = body or {}
        if res.status_code != 200 or str(body.get("ResponseCode", "")) != "0":
            # Daraja errors: {"requestId", "errorCode": "500.001.1001", "errorMessage"}
            code = str(body.get("errorCode") or body.get("ResponseCode") or res.status_code)
            message = body.get("errorMessage") or body.get("ResponseDescription") or _snippet(res.text, 200)
            raise MpesaError(f"M-Pesa {what} refused ({code}): {message}", code=code)
        return body
