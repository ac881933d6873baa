"""What the SMS and voice providers' adapters (gateway/providers/) hand to the messaging domain.
No provider's wire words beyond this point."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


class Delivery(StrEnum):
    """Where a sent SMS stands, as the provider's delivery report says."""

    in_transit = "in_transit"
    delivered = "delivered"
    retry_later = "retry_later"  # the phone was off or the network failed: worth sending again
    failed = "failed"  # will fail again


@dataclass(frozen=True)
class DeliveryStatus:
    provider_message_id: str
    delivery: Delivery
    status: str  # the provider's own word, kept for the record
    phone: str = ""
    network_code: str = ""
    failure_reason: str = ""
    retry_count: int | None = None


@dataclass(frozen=True)
class InboundMessage:
    provider_id: str
    phone: str  # E.164
    to: str
    text: str
    link_id: str = ""
    network_code: str = ""
    sent_at: dt.datetime | None = None


@dataclass(frozen=True)
class CallEvent:
    """One step of a voice call we placed: still active (keys pressed?), or its final report."""

    session_id: str
    active: bool
    direction: str = ""
    digits: str = ""
    answered: bool = False  # final report: picked up and talked
    status: str = ""
    hangup_cause: str = ""
    duration_seconds: int | None = None
    cost_minor: int = 0  # what the provider charged for the call (final report), minor units
    cost_currency: str = ""
    data: dict = field(default_factory=dict)  # the provider's post, kept with the event
