"""Failure alerts per lender: each lender's webhook counts the failures of its own borrowers' SMS and
its own payments' callbacks, never another lender's; its daily summary comes at its own local hour."""
from __future__ import annotations

import datetime as dt

from sqlmodel import select

from gateway.models import FieldPartner, Message, MessageStatus, Notification, WebhookEndpoint
from gateway.notify import endpoints, periodic

UTC = dt.UTC


def _failed_sms(session, borrower, n, now):
    for k in range(n):
        session.add(Message(borrower_id=borrower.id, phone=borrower.phone, kind="reminder", template="t",
                            language="en", text="x", encoding="GSM-7", status=MessageStatus.failed,
                            dedupe_key=f"failed:{borrower.id}:{k}", created_at=now))


def test_each_lender_is_alerted_of_its_own_failures_only(session, factory, settings):
    other = FieldPartner(name="Other Lender Ltd", help_line="0800 111 222", paybill="777001")
    session.add(other)
    session.flush()
    for partner in (factory.partner, other):
        endpoints.add(session, partner.id, "generic", f"alerts-{partner.id}", "https://hooks.example/in",
                      ["failures"], "test", failure_threshold=2)
    session.commit()
    now = dt.datetime(2026, 12, 1, 9, 10, tzinfo=UTC)
    ours = factory.borrower("Amina Wanjiru")
    factory.partner, mine = other, factory.partner
    theirs = factory.borrower("Beatrice Othieno")
    factory.partner = mine
    _failed_sms(session, theirs, 3, now)
    _failed_sms(session, ours, 1, now)
    session.commit()
    assert periodic.tick(session, settings, now=now) == 1
    session.commit()
    alerted = session.exec(select(WebhookEndpoint.field_partner_id, Notification.payload)
                           .join(WebhookEndpoint, WebhookEndpoint.id == Notification.endpoint_id)).all()
    assert [(partner, payload["source"], payload["count"]) for partner, payload in alerted] == [(other.id, "sms", 3)]


def test_the_daily_summary_comes_at_the_lenders_own_hour(session, factory, settings):
    factory.partner.timezone = "Africa/Kampala"  # UTC+3, as Nairobi
    lagos = FieldPartner(name="Lagos Lender", help_line="0800 333 444", paybill="888001", timezone="Africa/Lagos")
    session.add_all([factory.partner, lagos])
    session.flush()
    for partner in (factory.partner, lagos):
        endpoints.add(session, partner.id, "generic", f"daily-{partner.id}", "https://hooks.example/in",
                      ["daily_summary"], "test", daily_hour=7)
    session.commit()
    at_five_utc = dt.datetime(2026, 12, 1, 5, 30, tzinfo=UTC)  # 08:30 in Kampala, 06:30 in Lagos
    assert periodic.tick(session, settings, now=at_five_utc) == 1
    session.commit()
    (partner,) = session.exec(select(WebhookEndpoint.field_partner_id)
                              .join(Notification, Notification.endpoint_id == WebhookEndpoint.id)).all()
    assert partner == factory.partner.id
    assert periodic.tick(session, settings, now=at_five_utc + dt.timedelta(hours=1)) == 1  # 07:30 in Lagos
