"""Outbound webhook jobs: deliver one notification (declared in gateway/jobs.py), and the periodic
tick (RQ cron) that stores daily summaries and failure alerts and re-enqueues lost deliveries."""
from gateway.config import Settings
from gateway.db import session_scope
from gateway.notify import delivery, periodic
from gateway.providers import webhooks


def deliver_notification(notification_id: int, attempt: int = 0) -> str:
    return delivery.deliver(Settings.from_env(), notification_id, attempt, webhooks)


def notify_tick() -> dict:
    settings = Settings.from_env()
    with session_scope(settings) as session:
        stored = periodic.tick(session, settings)
        resent = delivery.resend_lost(session)
    return {"stored": stored, "resent": resent}
