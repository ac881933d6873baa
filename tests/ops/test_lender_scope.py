"""Reports, PAR and the shell per lender: a lender's staff see only their lender; the platform role sees
every lender with the lender as a column (amounts of different currencies never add up); a command
that shows a lender's data asks which lender once the database holds several (`--partner NAME`)."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from click.testing import CliRunner

from gateway.app import create_app
from gateway.cli import main
from gateway.i18n import N_
from gateway.models import Agent
from gateway.ops import flags
from gateway.web.auth import issue_token
from tests.helpers import pay_on
from tests.web import other_lender
from tests.web.test_endpoint_auth import password_hash

pytestmark = pytest.mark.usefixtures("frozen_clock")


@pytest.fixture
def two(session, factory):
    """Our lender (Jirani Finance) with a KES loan in arrears; another lender (tests/web/other_lender.py)
    with a KES loan and a UGX one; a manager of ours and a platform operator."""
    ours = factory.loan(factory.borrower("Amina Wanjiru", branch="Kibera"), first_due=dt.date(2026, 11, 5),
                        frequency="weekly", prefix="OUR")
    pay_on(session, ours, 1000, dt.date(2026, 11, 6), "OURPAID01")
    other = other_lender.build(session, factory, password_hash())
    mine = factory.partner
    factory.partner = other.partner
    try:
        ugx = factory.loan(factory.borrower("Grace Nakato", country="UG"), principal="500000",
                           first_due=dt.date(2026, 11, 5), frequency="weekly", currency="UGX", prefix="UGX")
    finally:
        factory.partner = mine
    staff = {}
    for k, role in enumerate(("manager", "platform")):
        agent = Agent(name=f"Our {role}", phone=f"+25470000070{k}", role=role, field_partner_id=mine.id,
                      password_hash=password_hash())
        staff[role] = (agent, issue_token(agent))
        session.add(agent)
    session.commit()
    return {"ours": ours, "ours_partner": mine.id, "other": other, "ugx": ugx,
            "staff": {r: (a.id, t) for r, (a, t) in staff.items()}}


def console_get(app, agent_id, path):
    client = app.test_client()
    with client.session_transaction() as s:
        s["csrf"], s["agent_id"] = "csrf-token", agent_id
    return client.get(path)


def rows_of(res) -> list[dict]:
    assert res.status_code == 200, res.get_data(as_text=True)[:300]
    return list(csv.DictReader(io.StringIO(res.get_data(as_text=True))))


def test_the_funders_report_is_the_lenders_own_and_the_platforms_has_every_lender(settings, two):
    app = create_app(settings)
    manager, platform = two["staff"]["manager"][0], two["staff"]["platform"][0]
    ours = rows_of(console_get(app, manager, "/ops/reports/funders.csv?month=2026-11"))
    assert [r["account"] for r in ours] == [two["ours"].account_ref]
    assert "lender" not in ours[0]
    every = rows_of(console_get(app, platform, "/ops/reports/funders.csv?month=2026-11"))
    assert sorted((r["lender"], r["account"], r["currency"]) for r in every) == sorted([
        ("Jirani Finance", two["ours"].account_ref, "KES"),
        ("Other Lender Ltd", two["other"].loan.account_ref, "KES"),
        ("Other Lender Ltd", two["ugx"].account_ref, "UGX")])


def test_par_per_lender_and_per_currency_for_the_platform(settings, two):
    client = create_app(settings).test_client()

    def par(role, by):
        res = client.get(f"/api/ops/portfolio?by={by}&as_of=2026-11-20",
                         headers={"Authorization": f"Bearer {two['staff'][role][1]}"})
        assert res.status_code == 200
        return res.get_json()["par"]

    ours_id, other_id = two["ours_partner"], two["other"].partner.id
    assert [(r["field_partner"], r["currency"], r["loans"]) for r in par("manager", "field_partner")] == \
        [(ours_id, "KES", 1)]
    every = {(r["field_partner"], r["currency"]): r["loans"] for r in par("platform", "field_partner")}
    assert every == {(ours_id, "KES"): 1, (other_id, "KES"): 1, (other_id, "UGX"): 1}
    whole = par("platform", "portfolio")  # the whole platform: one row per currency, never KES + UGX
    assert sorted((r["currency"], r["loans"]) for r in whole) == [("KES", 2), ("UGX", 1)]


def test_the_platform_dashboard_names_every_lender(settings, two):
    app = create_app(settings)
    page = console_get(app, two["staff"]["platform"][0], "/ops/dashboard?by=field_partner").get_data(as_text=True)
    assert "Other Lender Ltd" in page and "Jirani Finance" in page
    page = console_get(app, two["staff"]["manager"][0], "/ops/dashboard?by=field_partner").get_data(as_text=True)
    assert "Other Lender Ltd" not in page


def test_commands_ask_which_lender_once_there_are_several(two, tmp_path):
    runner = CliRunner()
    for args in (["report", "funders", "--month", "2026-11", "-o", "-"], ["messages"],
                 ["commissions", "statements"], ["commissions", "generate", "--month", "2026-11"]):
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.strip().splitlines() == \
            ["Error: say which lender with --partner NAME (lenders: Jirani Finance, Other Lender Ltd)"]
    wrong = runner.invoke(main, ["messages", "--partner", "Nobody"])
    assert wrong.exit_code == 2
    assert wrong.output.strip() == "Error: no lender named 'Nobody' (lenders: Jirani Finance, Other Lender Ltd)"


def test_with_partner_a_command_shows_that_lender_only(two):
    runner = CliRunner()
    out = runner.invoke(main, ["report", "funders", "--month", "2026-11", "-o", "-", "--partner", "other lender ltd"])
    assert out.exit_code == 0, out.output
    accounts = [r["account"] for r in csv.DictReader(io.StringIO(out.output))]
    assert sorted(accounts) == sorted([two["other"].loan.account_ref, two["ugx"].account_ref])
    ours = runner.invoke(main, ["report", "funders", "--month", "2026-11", "-o", "-", "--partner", "Jirani Finance"])
    assert [r["account"] for r in csv.DictReader(io.StringIO(ours.output))] == [two["ours"].account_ref]
    messages = runner.invoke(main, ["messages", "--partner", "Jirani Finance"])
    assert messages.exit_code == 0 and "other_lender_only" not in messages.output
    theirs = runner.invoke(main, ["messages", "--partner", "Other Lender Ltd"])
    assert "other_lender_only" in theirs.output
    statements = runner.invoke(main, ["commissions", "statements", "--partner", "Jirani Finance"])
    assert statements.exit_code == 0 and "Otieno Other" not in statements.output
    theirs = runner.invoke(main, ["commissions", "statements", "--partner", "Other Lender Ltd"])
    assert "Otieno Other callcentre" in theirs.output


def test_a_manager_decides_only_on_their_own_lenders_statements_from_the_shell(two, session):
    manager = session.get(Agent, two["staff"]["manager"][0])
    result = CliRunner().invoke(main, ["commissions", "approve", str(two["other"].pending.id), "--as", manager.phone])
    assert result.exit_code == 2 and f"no statement {two['other'].pending.id}" in result.output
    session.refresh(two["other"].pending)
    assert two["other"].pending.status == "pending"


def test_a_payment_is_never_put_on_another_lenders_loan(settings, two, session):
    from gateway.models import Payment, PaymentStatus

    ours = Payment(provider="mpesa", provider_txn_id="OURSUSP01", amount=5000, currency="KES",
                   loan_id=two["ours"].id, status=PaymentStatus.suspense, account_ref="OUR-TYPO")
    session.add(ours)
    session.commit()
    client = create_app(settings).test_client()
    res = client.post(f"/api/payments/{ours.id}/assign", json={"account_ref": two["other"].loan.account_ref},
                      headers={"Authorization": f"Bearer {two['staff']['manager'][1]}"})
    assert res.status_code == 404
    session.refresh(ours)
    assert ours.status == PaymentStatus.suspense


def test_a_flag_about_money_paid_to_a_lenders_paybill_is_that_lenders_though_on_no_loan(settings, two, session):
    other = two["other"]  # its suspense payment OTHSUSP01: paid to its paybill, on no loan
    flags.raise_flag(session, "conflicting_duplicate", "OTHDUP", N_(
        "receipt {receipt} reported twice: kept {kept} for account {kept_account}, "
        "then {other} for account {other_account}"),
        {"receipt": "OTHSUSP01", "kept": "KES 50", "kept_account": "OTH-TYPO", "other": "KES 60",
         "other_account": "OTH-TYPO"}, payment_id=other.suspended.id)
    session.commit()
    app = create_app(settings)
    theirs = console_get(app, other.staff["manager"].id, "/ops/flags").get_data(as_text=True)
    ours = console_get(app, two["staff"]["manager"][0], "/ops/flags").get_data(as_text=True)
    assert "receipt OTHSUSP01 reported twice" in theirs and "OTHSUSP01" not in ours
