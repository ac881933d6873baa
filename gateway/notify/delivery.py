"""Delivering a stored Notification: claim the attempt, compose the text in the endpoint's language,
hand it to the transport (gateway.providers.webhooks, passed in by the job), record the outcome.

Retryable failures (timeouts, 5xx, Slack's 429) are rescheduled with backoff doubling from
NOTIFY_RETRY_BASE_SECONDS, or after Slack's Retry-After when that is longer, up to
NOTIFY_MAX_ATTEMPTS; then, or at once for a refusal (404 no_service, 410 channel_is_archived...),
the notification ends in `failed` with the reason. The URL and the secret are decrypted only here,
and appear in no log, reason or error."""
from __future__ import annotations

import datetime as dt
import logging
import secrets

from sqlmodel import Session, select

from gateway import jobs, outbox
from gateway.config import Settings
from gateway.db import session_scope, utcnow
from gateway.models import Notification, NotificationStatus, WebhookEndpoint
from gateway.notify import crypto
from gateway.notify.compose import compose

log = logging.getLogger(__name__)
N = NotificationStatus
MAX_RETRY_AFTER = 3600  # seconds: a longer Retry-After is capped


def send_test(session: Session, endpoint_id: int) -> Notification:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or not endpoint.active:
        raise ValueError(f"no active webhook {endpoint_id}")
    note = Notification(endpoint_id=endpoint.id, event="test", payload={},
                        dedupe_key=f"test:{endpoint.id}:{secrets.token_hex(8)}")
    session.add(note)
    session.flush()
    outbox.after_commit(session, jobs.DELIVER_NOTIFICATION, note.id, 0)
    return note


def _finish(note: Notification, status: N, reason: str = "") -> None:
    note.status, note.last_error = status, reason[:300]
    if status == N.delivered:
        note.delivered_at = utcnow()


def deliver(settings: Settings, notification_id: int, attempt: int, transport) -> str:
    with session_scope(settings) as s:  # 1. claim this attempt: a duplicate job finds it taken
        note = s.exec(select(Notification).where(Notification.id == notification_id).with_for_update()).first()
        if note is None:
            return "missing"
        if note.status != N.pending or note.attempts != attempt:
            return note.status
        endpoint = s.get(WebhookEndpoint, note.endpoint_id)
        if not endpoint.active:
            _finish(note, N.failed, "endpoint removed")
            return note.status
        try:
            text = compose(s, note, endpoint, settings)
            url, secret = crypto.decrypt(endpoint.url_encrypted, settings), crypto.decrypt(endpoint.secret_encrypted,
                                                                                          settings)
        except ValueError as exc:  # unknown event, key rotated away: a clear final status
            _finish(note, N.failed, str(exc))
            return note.status
        if endpoint.kind == "slack":
            payload = transport.slack_body(text.title, text.lines)
        else:
            payload = transport.generic_body(note.id, note.event, note.created_at.isoformat(), note.payload,
                                             text.title, text.lines)
        note.attempts = attempt + 1
        hint, endpoint_id = endpoint.url_hint, endpoint.id
    outcome = transport.post(url, payload, secret, settings.notify_timeout_seconds)
    with session_scope(settings) as s:  # 2. record what came of it
        note = s.get(Notification, notification_id)
        note.last_status_code = outcome.status_code
        if outcome.ok:
            _finish(note, N.delivered)
        elif outcome.retryable and note.attempts < settings.notify_max_attempts:
            delay = max(settings.notify_retry_base_seconds * 2 ** (note.attempts - 1),
                        min(outcome.retry_after or 0, MAX_RETRY_AFTER))
            note.next_at, note.last_error = utcnow() + dt.timedelta(seconds=delay), outcome.reason[:300]
            outbox.after_commit(s, jobs.DELIVER_NOTIFICATION, note.id, note.attempts, at=note.next_at)
        else:
            tail = f" after {note.attempts} attempts" if outcome.retryable else ""
            _finish(note, N.failed, f"{outcome.reason}{tail}")
        s.add(note)
        status = note.status
    log.info("notification %s (%s) to webhook %s %s: %s%s", notification_id, note.event, endpoint_id, hint, status,
             f" ({outcome.reason})" if not outcome.ok else "")
    return status


def resend_lost(session: Session, older_than: int = 60) -> int:
    """Enqueue again pending notifications whose job was lost (Redis down at commit, worker killed)."""
    due = utcnow() - dt.timedelta(seconds=older_than)
    lost = session.exec(select(Notification.id, Notification.attempts).where(
        Notification.status == N.pending, Notification.next_at < due)).all()
    for nid, attempts in lost:
        outbox.after_commit(session, jobs.DELIVER_NOTIFICATION, nid, attempts)
    return len(lost)
