"""A lender's staff, from first day to last: added with a role, given API tokens (shown once; a new
one stops the old at once), disabled (all access ends: API token, console password and session).
Every change is audited."""
from __future__ import annotations

from sqlmodel import Session, select

from gateway import audit, phones
from gateway.models import Agent, FieldPartner
from gateway.web.auth import issue_token
from gateway.web.roles import Role


class StaffError(ValueError):
    """A staff change that cannot be made; the message says why."""


def _phone(raw: str, region: str) -> str:
    try:
        return phones.normalize(raw, region)
    except phones.PhoneError as exc:
        raise StaffError(str(exc)) from None


def find(session: Session, raw_phone: str, region: str = "KE") -> Agent:
    phone = _phone(raw_phone, region)
    agent = session.exec(select(Agent).where(Agent.phone == phone)).first()
    if agent is None:
        raise StaffError(f"no staff member with phone {phones.mask(phone)}")
    return agent


def check_may_manage(by: Agent | None, partner_id: int, role: str) -> None:
    """A lender's admin manages their own lender's staff, never platform staff; the platform role
    (and the `gateway staff` commands, run on the server: `by` None) manage everyone."""
    if by is None or by.role == Role.PLATFORM:
        return
    if by.role != Role.ADMIN or by.field_partner_id != partner_id:
        raise StaffError("only this lender's admins may manage its staff")
    if role == Role.PLATFORM:
        raise StaffError("only platform staff may add or change platform staff")


def add(session: Session, partner: FieldPartner, raw_phone: str, name: str, role: str, actor: str,
        branch: str = "", by: Agent | None = None) -> tuple[Agent, str]:
    """A new staff member and their first API token (returned once; only its hash is kept)."""
    if role not in set(Role):
        raise StaffError(f"role must be one of {', '.join(Role)}")
    check_may_manage(by, partner.id, role)
    if not name.strip():
        raise StaffError("a name is required")
    phone = _phone(raw_phone, partner.country)
    if session.exec(select(Agent.id).where(Agent.phone == phone)).first():
        raise StaffError(f"{phones.mask(phone)} is already a staff member")
    agent = Agent(name=name.strip()[:120], phone=phone, role=role, field_partner_id=partner.id, branch=branch[:80])
    token = issue_token(agent)
    session.add(agent)
    session.flush()
    audit.record(session, actor, "staff.added", "agent", agent.id, role=role, field_partner_id=partner.id,
                 phone=phones.mask(phone))
    return agent, token


def new_token(session: Session, agent: Agent, actor: str, by: Agent | None = None) -> str:
    """A new API token; the old one stops working at once."""
    check_may_manage(by, agent.field_partner_id, agent.role)
    if not agent.active:
        raise StaffError("this staff member is disabled")
    token = issue_token(agent)
    session.add(agent)
    audit.record(session, actor, "staff.token_issued", "agent", agent.id)
    return token


def disable(session: Session, agent: Agent, actor: str, by: Agent | None = None) -> bool:
    """End all access: the API token and console password no longer work, and a console session
    open now ends at its next request (it checks `active`). False if already disabled."""
    check_may_manage(by, agent.field_partner_id, agent.role)
    if by is not None and by.id == agent.id:
        raise StaffError("you cannot disable yourself: ask another admin")
    if not agent.active:
        return False
    agent.active = False
    agent.api_token_hash = ""
    agent.password_hash = ""
    session.add(agent)
    audit.record(session, actor, "staff.disabled", "agent", agent.id)
    return True


def listing(session: Session, partner: FieldPartner | None = None) -> list[tuple[Agent, FieldPartner]]:
    query = select(Agent, FieldPartner).join(FieldPartner, FieldPartner.id == Agent.field_partner_id)
    if partner is not None:
        query = query.where(Agent.field_partner_id == partner.id)
    return list(session.exec(query.order_by(FieldPartner.name, Agent.role, Agent.name)))
