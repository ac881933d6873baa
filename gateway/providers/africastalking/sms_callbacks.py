"""Africa's Talking SMS callbacks read into messaging events: delivery reports, incoming SMS and
bulk opt-outs (form posts). A malformed post raises CallbackError (answered 400, kept).
Wire format: shared/providers.md."""
from __future__ import annotations

import datetime as dt

from gateway import phones
from gateway.inbox import CallbackError
from gateway.messaging.events import Delivery, DeliveryStatus, InboundMessage

IN_TRANSIT = {"Sent", "Submitted", "Buffered"}
FINAL = {"Success", "Rejected", "Failed", "AbsentSubscriber", "Expired"}
# Worth sending again later: the phone was off or the network failed; the rest will fail again.
RESEND_STATUSES = {"AbsentSubscriber", "Expired"}
RESEND_REASONS = {"DeliveryFailure", "UserIsInactive"}


def delivery_report(form: dict) -> DeliveryStatus:
    provider_id, status = (form.get("id") or "").strip(), (form.get("status") or "").strip()
    if not provider_id or not status:
        raise CallbackError("id and status are required")
    if status not in IN_TRANSIT | FINAL:
        raise CallbackError(f"unknown delivery status {status!r}")
    reason = (form.get("failureReason") or "")[:40]
    if status in IN_TRANSIT:
        delivery = Delivery.in_transit
    elif status == "Success":
        delivery = Delivery.delivered
    elif status in RESEND_STATUSES or reason in RESEND_REASONS:
        delivery = Delivery.retry_later
    else:
        delivery = Delivery.failed
    retry_count = form.get("retryCount")
    return DeliveryStatus(provider_message_id=provider_id[:80], delivery=delivery, status=status,
                          phone=(form.get("phoneNumber") or "")[:20], network_code=(form.get("networkCode") or "")[:10],
                          failure_reason=reason,
                          retry_count=int(retry_count) if (retry_count or "").isdigit() else None)


def _parse_date(raw: str) -> dt.datetime | None:
    """AT sends e.g. '2026-11-23 17:13:35' (UTC) or ISO 8601; keep None if unreadable."""
    try:
        value = dt.datetime.fromisoformat((raw or "").strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def inbound(form: dict, default_country: str) -> InboundMessage:
    provider_id = (form.get("id") or "").strip()
    if not provider_id or not form.get("from"):
        raise CallbackError("id and from are required")
    phone = phones.try_normalize(form.get("from", ""), default_country)
    if not phone:
        raise CallbackError(f"from is not a phone number: {form.get('from')!r}")
    return InboundMessage(provider_id=provider_id[:80], phone=phone, to=(form.get("to") or "")[:20],
                          text=(form.get("text") or "")[:1600], link_id=(form.get("linkId") or "")[:80],
                          network_code=(form.get("networkCode") or "")[:10], sent_at=_parse_date(form.get("date", "")))


def opt_out(form: dict, default_country: str) -> tuple[str, str]:
    """(the borrower's E.164 phone, our sender id they opted out of)."""
    phone = phones.try_normalize(form.get("phoneNumber") or "", default_country)
    if not phone:
        raise CallbackError("phoneNumber is missing or not a phone number")
    return phone, form.get("senderId", "")
