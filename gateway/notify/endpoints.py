"""A lender's webhook endpoints: added, listed, removed; the URL and secret encrypted at rest."""
from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from sqlmodel import Session, select

from gateway import audit
from gateway.i18n import languages
from gateway.models import FieldPartner, Notification, NotificationStatus, WebhookEndpoint
from gateway.notify import crypto

KINDS = ("slack", "generic")
# daily_summary: collections summary at the endpoint's local hour; large_payment: a payment at or above
# the threshold; flag_raised: an operator flag; failures: callbacks or a provider failing above the
# threshold in an hour; loan_repaid: a loan paid off.
EVENTS = ("daily_summary", "large_payment", "flag_raised", "failures", "loan_repaid")


class EndpointError(ValueError):
    pass


def mask_url(url: str) -> str:
    """What may be shown or logged of a webhook URL: scheme and host, never the path (the secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}/…"


def add(session: Session, partner_id: int, kind: str, name: str, url: str, events: list[str], actor: str, *,
        language: str = "en", daily_hour: int = 7, payment_threshold: int = 0, failure_threshold: int = 5,
        secret: str | None = None) -> tuple[WebhookEndpoint, str]:
    """Returns the endpoint and, for a generic one, its signing secret (shown once, to give the receiver)."""
    if session.get(FieldPartner, partner_id) is None:
        raise EndpointError(f"no field partner {partner_id}")
    if kind not in KINDS:
        raise EndpointError(f"kind must be one of {', '.join(KINDS)}")
    parts = urlsplit(url or "")
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise EndpointError("url must be an http(s) URL")
    unknown = [e for e in events if e not in EVENTS]
    if not events or unknown:
        raise EndpointError(f"events must be some of {', '.join(EVENTS)}")
    if language not in languages():
        raise EndpointError(f"language must be one of {', '.join(languages())}")
    if not 0 <= daily_hour <= 23:
        raise EndpointError("daily_hour must be from 0 to 23")
    if payment_threshold < 0 or failure_threshold < 1:
        raise EndpointError("thresholds must be positive")
    secret = (secret or secrets.token_urlsafe(32)) if kind == "generic" else ""
    endpoint = WebhookEndpoint(field_partner_id=partner_id, kind=kind, name=(name or kind)[:80],
                               url_encrypted=crypto.encrypt(url), secret_encrypted=crypto.encrypt(secret),
                               url_hint=mask_url(url)[:120], events=list(dict.fromkeys(events)), language=language,
                               daily_hour=daily_hour, payment_threshold=payment_threshold,
                               failure_threshold=failure_threshold)
    session.add(endpoint)
    session.flush()
    audit.record(session, actor, "webhook.added", "webhook", endpoint.id, partner_id=partner_id, kind=kind,
                 url=endpoint.url_hint, events=endpoint.events)
    return endpoint, secret


def remove(session: Session, endpoint_id: int, actor: str) -> WebhookEndpoint:
    """Deactivate (kept for its delivery log); pending notifications to it end in failed."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or not endpoint.active:
        raise EndpointError(f"no active webhook {endpoint_id}")
    endpoint.active = False
    session.add(endpoint)
    for n in session.exec(select(Notification).where(Notification.endpoint_id == endpoint_id,
                                                     Notification.status == NotificationStatus.pending)):
        n.status, n.last_error = NotificationStatus.failed, "endpoint removed"
        session.add(n)
    audit.record(session, actor, "webhook.removed", "webhook", endpoint.id)
    return endpoint


def listing(session: Session, partner_id: int | None = None, active_only: bool = True) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).order_by(WebhookEndpoint.field_partner_id, WebhookEndpoint.id)
    if partner_id is not None:
        query = query.where(WebhookEndpoint.field_partner_id == partner_id)
    if active_only:
        query = query.where(WebhookEndpoint.active)
    return list(session.exec(query))


def wanting(session: Session, partner_id: int, event: str) -> list[WebhookEndpoint]:
    return [e for e in listing(session, partner_id) if event in e.events]


def recent(session: Session, partner_id: int, limit: int = 50) -> list[tuple[Notification, WebhookEndpoint]]:
    return list(session.exec(
        select(Notification, WebhookEndpoint).join(WebhookEndpoint, WebhookEndpoint.id == Notification.endpoint_id)
        .where(WebhookEndpoint.field_partner_id == partner_id)
        .order_by(Notification.id.desc()).limit(limit)))
