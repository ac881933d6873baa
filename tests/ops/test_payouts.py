"""Commission statements: generated from the month's commissions, approved or returned by a manager,
paid once in an M-Pesa bulk (B2C) file for Finance; role checks and the audit trail."""
import csv
import datetime as dt
import io
import re

import openpyxl
import pytest
import time_machine
from click.testing import CliRunner
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from gateway.cli import main
from gateway.models import AuditEvent, CommissionPayout, CommissionStatement
from gateway.ops import callcentre
from tests.helpers import pay_on, staff

UTC = dt.UTC


@pytest.fixture
def month(factory, session):
    """January 2027: Otieno (field) onboarded Asha, whose first installment (1,000) is paid on Jan 9:
    Ksh 200 onboarding fee. Wanjiku (call centre) recovers 1,500 of Bakari's late installments on
    Jan 20: 5 % = Ksh 75."""
    otieno, otieno_auth = staff(session, factory, "field", name="Otieno", phone="+254733000001")
    wanjiku, wanjiku_auth = staff(session, factory, "callcentre", name="Wanjiku", phone="+254733000002")
    manager, manager_auth = staff(session, factory, "manager", name="Mary Manager", phone="+254733000003")
    a = factory.loan(factory.borrower("Asha", agent_id=otieno.id), principal="2000", count=2, rate="0",
                     first_due=dt.date(2027, 1, 10))
    b = factory.loan(factory.borrower("Bakari"), principal="3000", count=3, rate="0", first_due=dt.date(2026, 12, 5))
    with time_machine.travel(dt.datetime(2027, 1, 2, 8, tzinfo=UTC), tick=False):
        callcentre.assign(session, [b.id], wanjiku.id, "agent:99")
        session.commit()
    pay_on(session, a, 100000, dt.date(2027, 1, 9), "PA")
    pay_on(session, b, 150000, dt.date(2027, 1, 20), "PB")
    return {"otieno": (otieno, otieno_auth), "wanjiku": (wanjiku, wanjiku_auth), "manager": (manager, manager_auth)}


def _statements(client, auth, **query):
    r = client.get("/api/ops/commissions/statements", query_string=query, headers=auth)
    assert r.status_code == 200, r.json
    return {s["agent"]: s for s in r.json["statements"]}


def test_statements_approved_returned_and_paid_once(client, session, month):
    (otieno, o_auth), (_, w_auth), (manager, m_auth) = month["otieno"], month["wanjiku"], month["manager"]
    r = client.post("/api/ops/commissions/statements/generate", json={"month": "2027-01"}, headers=m_auth)
    assert r.status_code == 200, r.json
    made = {s["agent"]: s for s in r.json["statements"]}
    assert made["Otieno"]["total"] == 20000 and made["Otieno"]["status"] == "pending"
    assert made["Otieno"]["lines"] == [{"rule": "onboarding", "loan": made["Otieno"]["lines"][0]["loan"],
                                        "borrower": "Asha", "base": 100000, "amount": 20000}]
    assert made["Wanjiku"]["total"] == 7500 and made["Wanjiku"]["lines"][0]["rule"] == "recovery"

    # field agents see only their own, and cannot decide
    assert list(_statements(client, o_auth)) == ["Otieno"]
    otieno_id, wanjiku_id = made["Otieno"]["id"], made["Wanjiku"]["id"]
    assert client.post(f"/api/ops/commissions/statements/{otieno_id}/approve", headers=o_auth).status_code == 403
    assert client.post(f"/api/ops/commissions/statements/{otieno_id}/approve", headers=w_auth).status_code == 403

    # sent back with a note, rebuilt by the next run, then approved
    assert client.post(f"/api/ops/commissions/statements/{wanjiku_id}/return", json={"note": " "},
                       headers=m_auth).status_code == 400
    r = client.post(f"/api/ops/commissions/statements/{wanjiku_id}/return",
                    json={"note": "Bakari's payment is disputed"}, headers=m_auth)
    assert r.json["status"] == "returned" and r.json["note"] == "Bakari's payment is disputed"
    assert _statements(client, w_auth)["Wanjiku"]["note"] == "Bakari's payment is disputed"
    client.post("/api/ops/commissions/statements/generate", json={"month": "2027-01"}, headers=m_auth)
    assert _statements(client, m_auth)["Wanjiku"]["status"] == "pending"
    for sid in (otieno_id, wanjiku_id):
        approved = client.post(f"/api/ops/commissions/statements/{sid}/approve", headers=m_auth)
        assert approved.json["status"] == "approved"
    again = client.post(f"/api/ops/commissions/statements/{otieno_id}/approve", headers=m_auth)
    assert again.status_code == 409 and "approved" in again.json["detail"]

    # the payout: Finance's M-Pesa bulk file, and every approved statement paid
    assert client.post("/api/ops/commissions/payouts", json={}, headers=o_auth).status_code == 403
    r = client.post("/api/ops/commissions/payouts", json={"month": "2027-01"}, headers=m_auth)
    assert r.status_code == 201, r.json
    batch = r.json["batch"]
    csv_file = client.get(f"/api/ops/commissions/payouts/{batch}", headers=m_auth)
    assert csv_file.status_code == 200 and csv_file.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(csv_file.data.decode())))
    assert [(x["ReceiverParty"], x["Amount"], x["CommandID"], x["Name"], x["Remarks"]) for x in rows] == [
        ("254733000001", "200", "BusinessPayment", "Otieno", "Commission 2027-01"),
        ("254733000002", "75", "BusinessPayment", "Wanjiku", "Commission 2027-01")]
    sheet = openpyxl.load_workbook(io.BytesIO(
        client.get(f"/api/ops/commissions/payouts/{batch}?format=xlsx", headers=m_auth).data)).active
    assert [c.value for c in sheet[1]] == ["ReceiverParty", "Amount", "CommandID", "Name", "Remarks", "Occasion"]
    assert [c.value for c in sheet[2]][:2] == ["254733000001", 200]
    assert {s["status"] for s in _statements(client, m_auth).values()} == {"paid"}

    # paid once: nothing left to pay, a regenerate leaves paid statements alone, the database refuses twice
    again = client.post("/api/ops/commissions/payouts", json={"month": "2027-01"}, headers=m_auth)
    assert again.status_code == 400 and again.json["detail"] == "no approved statement to pay"
    client.post("/api/ops/commissions/statements/generate", json={"month": "2027-01"}, headers=m_auth)
    assert {s["status"] for s in _statements(client, m_auth).values()} == {"paid"}
    session.add(CommissionPayout(statement_id=otieno_id, batch="PAY-again", phone=otieno.phone, amount=20000,
                                 exported_by="test"))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()

    actions = [(e.action, e.actor) for e in session.exec(
        select(AuditEvent).where(AuditEvent.entity == "commission_statement", AuditEvent.entity_id == str(wanjiku_id))
        .order_by(AuditEvent.id))]
    assert actions == [("commission_statement.generated", f"agent:{manager.id}"),
                       ("commission_statement.returned", f"agent:{manager.id}"),
                       ("commission_statement.generated", f"agent:{manager.id}"),
                       ("commission_statement.approved", f"agent:{manager.id}"),
                       ("commission_statement.paid", f"agent:{manager.id}")]


def test_bad_requests_are_clear(client, month):
    _, m_auth = month["manager"]
    assert client.post("/api/ops/commissions/statements/generate", json={"month": "January"},
                       headers=m_auth).status_code == 400
    assert client.post("/api/ops/commissions/statements/999/approve", headers=m_auth).status_code == 404
    assert client.get("/api/ops/commissions/payouts/PAY-nothing", headers=m_auth).status_code == 404
    assert client.get("/api/ops/commissions/statements?status=maybe", headers=m_auth).status_code == 400


def test_nobody_approves_their_own_statement(session, month, settings):
    from gateway.models import Agent
    from gateway.ops import payouts

    otieno = month["otieno"][0]
    payouts.generate(session, "2027-01", settings, "test")
    session.commit()
    st = session.exec(select(CommissionStatement).where(CommissionStatement.agent_id == otieno.id)).one()
    boss = session.get(Agent, otieno.id)
    boss.role = "manager"  # promoted since: still not their own approver
    with pytest.raises(payouts.NotAllowed):
        payouts.approve(session, st.id, boss)


def test_cli_generate_approve_return_payout(session, month, tmp_path):
    runner = CliRunner()
    out = runner.invoke(main, ["commissions", "generate", "--month", "2027-01"])
    assert out.exit_code == 0, out.output
    ids = {st.agent_id: st.id for st in session.exec(select(CommissionStatement))}
    otieno, wanjiku = month["otieno"][0], month["wanjiku"][0]
    refused = runner.invoke(main, ["commissions", "approve", str(ids[otieno.id]), "--as", "+254733000002"])
    assert refused.exit_code == 2 and "only a manager" in refused.output
    assert runner.invoke(main, ["commissions", "approve", str(ids[otieno.id]), "--as", "0733000003"]).exit_code == 0
    assert runner.invoke(main, ["commissions", "return", str(ids[wanjiku.id]), "--as", "+254733000003",
                                "--note", "check Bakari"]).exit_code == 0
    listing = runner.invoke(main, ["commissions", "statements", "--month", "2027-01"]).output
    assert "Otieno" in listing and "approved" in listing and "returned  (check Bakari)" in listing
    target = tmp_path / "payout.xlsx"
    out = runner.invoke(main, ["commissions", "payout", "--as", "+254733000003", "--format", "xlsx", "-o", str(target)])
    assert out.exit_code == 0, out.output
    sheet = openpyxl.load_workbook(target).active
    rows = [[c.value for c in row][:3] for row in sheet.iter_rows(min_row=2)]
    assert rows == [["254733000001", 200, "BusinessPayment"]]
    again = runner.invoke(main, ["commissions", "payout", "--as", "+254733000003", "-o", str(tmp_path / "x.csv")])
    assert again.exit_code == 2 and "no approved statement" in again.output


def _console_login(client, session, agent, password="correct horse battery"):
    from gateway.web.console_session import set_password

    session.commit()  # end the test's read transaction: the app wrote since
    set_password(agent, password)
    session.add(agent)
    session.commit()
    page = client.get("/ops/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/ops/login", data={"phone": agent.phone, "password": password, "csrf_token": token})


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_console_manager_decides_and_pays_agent_sees_own(app, session, month):
    manager, otieno = month["manager"][0], month["otieno"][0]
    boss = app.test_client()
    _console_login(boss, session, manager)
    html = boss.get("/ops/statements?month=2027-01").get_data(as_text=True)
    assert "No statement this month." in html
    boss.post("/ops/statements/generate", data={"csrf_token": _csrf(html), "month": "2027-01"})
    html = boss.get("/ops/statements?month=2027-01").get_data(as_text=True)
    assert "Otieno" in html and "Wanjiku" in html and "Approve" in html
    ids = {st.agent_id: st.id for st in session.exec(select(CommissionStatement))}
    boss.post(f"/ops/statements/{ids[otieno.id]}/decide", data={"csrf_token": _csrf(html), "month": "2027-01",
                                                                 "decision": "approve"})
    r = boss.post(f"/ops/statements/{ids[month['wanjiku'][0].id]}/decide",
                  data={"csrf_token": _csrf(html), "month": "2027-01", "decision": "return", "note": "check Bakari"})
    assert r.status_code == 302
    r = boss.post("/ops/statements/payout", data={"csrf_token": _csrf(html), "month": "2027-01", "format": "csv"})
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.get_data(as_text=True).splitlines()[1].startswith("254733000001,200,BusinessPayment,Otieno")

    agent = app.test_client()
    _console_login(agent, session, session.get(type(otieno), otieno.id))
    html = agent.get("/ops/statements?month=2027-01&lang=sw").get_data(as_text=True)
    assert "Otieno" in html and "Wanjiku" not in html and "Idhinisha" not in html
    assert agent.post("/ops/statements/payout", data={"csrf_token": _csrf(html)}).status_code == 403
