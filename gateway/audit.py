"""The audit trail: one call per change to money or borrower state, in the same transaction."""
from __future__ import annotations

from sqlmodel import Session

from gateway.models import AuditEvent


def record(session: Session, actor: str, action: str, entity: str, entity_id, **data) -> AuditEvent:
    event = AuditEvent(actor=actor, action=action, entity=entity, entity_id=str(entity_id), data=data)
    session.add(event)
    return event
