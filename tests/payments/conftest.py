import pytest

from gateway.models import Agent
from gateway.web.auth import issue_token


def _token(factory, session, name, phone, role) -> str:
    agent = Agent(name=name, phone=phone, role=role, field_partner_id=factory.partner.id)
    token = issue_token(agent)
    session.add(agent)
    session.commit()
    return token


@pytest.fixture
def manager_token(factory, session) -> str:
    return _token(factory, session, "Grace Otieno", "+254700000901", "manager")


@pytest.fixture
def field_token(factory, session) -> str:
    return _token(factory, session, "Peter Kamau", "+254700000902", "field")
