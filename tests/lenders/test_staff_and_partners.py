"""A lender and its staff from an empty database, with the documented commands (issue 13, parts 1-2):
tokens printed once, a new token stops the old at once, disabling ends every kind of access."""
import re

import pytest
from click.testing import CliRunner
from sqlmodel import select

from gateway.cli import main
from gateway.lenders import partners, staff
from gateway.models import Agent, AuditEvent, FieldPartner
from gateway.web.console_session import set_password


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def token_in(output: str) -> str:
    return re.search(r"API token \(shown once\): (\S+)", output).group(1)


def api(client, token):
    return client.get("/api/ops/portfolio", headers={"Authorization": f"Bearer {token}"})


def test_a_lender_and_its_staff_from_an_empty_database(settings, session, client):
    assert run("partner", "list").output.startswith("no lenders yet")
    added = run("partner", "add", "Mwangaza Solar", "--help-line", "0800 111 222", "--paybill", "600700")
    assert added.exit_code == 0 and "Mwangaza Solar (KE, paybill 600700)" in added.output

    result = run("staff", "add", "0722 000 111", "--name", "Wanjiku Manager", "--role", "manager",
                 "--partner", "Mwangaza Solar")
    assert result.exit_code == 0, result.output
    first = token_in(result.output)
    assert "+254722***111" in result.output and "0722000111" not in result.output  # phones masked
    assert api(client, first).status_code == 200
    [agent] = session.exec(select(Agent)).all()
    assert (agent.phone, agent.role, agent.api_token_hash != first) == ("+254722000111", "manager", True)

    # a new token: the old one stops working at once
    second = token_in(run("staff", "token", "+254722000111").output)
    assert api(client, first).status_code == 401 and api(client, second).status_code == 200

    listing = run("staff", "list", "--partner", "Mwangaza Solar").output
    assert "manager" in listing and "Wanjiku Manager (active, no console password)" in listing
    session.rollback()  # a fresh snapshot: the commands committed meanwhile
    actions = [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["partner.added", "partner.code_added", "staff.added", "staff.token_issued"]


def test_disable_ends_the_api_token_the_password_and_an_open_console_session(settings, session, client, factory):
    token = token_in(run("staff", "add", "0722000222", "--name", "Otieno Admin", "--role", "admin",
                         "--partner", factory.partner.name).output)
    agent = session.exec(select(Agent).where(Agent.phone == "+254722000222")).one()
    set_password(agent, "a-long-password")
    session.add(agent)
    session.commit()
    page = client.get("/ops/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/ops/login", data={"phone": "0722000222", "password": "a-long-password",
                                           "csrf_token": csrf}).status_code == 302
    assert client.get("/ops/dashboard").status_code == 200

    result = run("staff", "disable", "0722000222")
    assert result.exit_code == 0 and "disabled" in result.output
    assert api(client, token).status_code == 401
    assert client.get("/ops/dashboard").status_code == 302  # the open session ends at its next request
    assert run("staff", "disable", "0722000222").output.strip().endswith("was already disabled")
    assert run("staff", "token", "0722000222").exit_code == 2  # no new token for a disabled member


def test_bad_input_is_one_line_and_exit_code_2(settings, session, factory):
    cases = [
        (("staff", "add", "not a phone", "--name", "X", "--role", "field", "--partner", factory.partner.name),
         "error:"),
        (("staff", "add", "0722000333", "--name", "X", "--role", "field", "--partner", "Nobody"), "no lender named"),
        (("staff", "token", "0799999999"), "no staff member"),
        (("partner", "add", factory.partner.name, "--help-line", "1"), "exists already"),
        (("partner", "add", "New", "--help-line", "1", "--paybill", "60-07"), "digits only"),
        (("partner", "set", factory.partner.name, "--country", "Kenya"), "two-letter"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(main, list(args))
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
    run("staff", "add", "0722000333", "--name", "X", "--role", "field", "--partner", factory.partner.name)
    again = CliRunner().invoke(main, ["staff", "add", "+254722000333", "--name", "Y", "--role", "field",
                                      "--partner", factory.partner.name])
    assert again.exit_code == 2 and "already a staff member" in again.output


def test_partner_set_changes_what_borrowers_are_told_and_is_audited(settings, session, factory):
    result = run("partner", "set", factory.partner.name, "--paybill", "600111", "--help-line", "0800 000 001")
    assert result.exit_code == 0, result.output
    session.rollback()
    partner = session.get(FieldPartner, factory.partner.id)
    session.refresh(partner)
    assert (partner.paybill, partner.help_line) == ("600111", "0800 000 001")
    [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "partner.changed")).all()
    assert event.data["before"]["paybill"] == "600966" and event.data["after"]["paybill"] == "600111"


def test_platform_staff_from_the_command_and_who_may_manage_whom(settings, session, factory):
    result = run("staff", "add", "0722000444", "--name", "Gateway Ops", "--role", "platform",
                 "--partner", factory.partner.name)
    assert result.exit_code == 0 and result.output.count("API token (shown once): ") == 1
    assert "Gateway Ops (platform, Jirani Finance) +254722***444" in result.output
    session.rollback()
    platform = session.exec(select(Agent).where(Agent.phone == "+254722000444")).one()
    sola = partners.add(session, "Sola Bora", "test", help_line="0800 1", country="TZ")
    admin, _ = staff.add(session, factory.partner, "0722000555", "Jirani Admin", "admin", "test")
    field, _ = staff.add(session, sola, "+255754000666", "Sola Field", "field", "test", by=platform)
    with pytest.raises(staff.StaffError, match="only this lender's admins"):
        staff.add(session, sola, "+255754000777", "X", "field", "test", by=admin)
    with pytest.raises(staff.StaffError, match="only this lender's admins"):
        staff.disable(session, field, "test", by=admin)
    with pytest.raises(staff.StaffError, match="only platform staff may"):
        staff.add(session, factory.partner, "0722000888", "Y", "platform", "test", by=admin)
    with pytest.raises(staff.StaffError, match="only platform staff may"):
        staff.new_token(session, platform, "test", by=admin)
    manager, _ = staff.add(session, factory.partner, "0722000999", "Jirani Manager", "manager", "test", by=admin)
    with pytest.raises(staff.StaffError, match="only this lender's admins"):
        staff.new_token(session, admin, "test", by=manager)  # a manager is not an admin
