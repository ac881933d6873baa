"""The commands of the README's quick start: init-db, demo, ussd."""
import datetime as dt
import socket
import threading

import time_machine
from click.testing import CliRunner
from sqlmodel import func, select
from werkzeug.serving import make_server

from gateway import ledger
from gateway.app import create_app
from gateway.cli import main
from gateway.models import Agent, Borrower, LedgerEntry, Loan, Payment

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


def run(*args, input=None):
    result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
    return result


def test_demo_loads_a_balanced_portfolio_in_every_state(settings, session):
    with time_machine.travel(NOW, tick=False):
        result = run("demo", "--borrowers", "50")
    assert result.exit_code == 0, result.output
    assert "Moses Manager:" in result.output and "late_120" in result.output
    assert session.exec(select(func.count()).select_from(Borrower)).one() == 50
    assert {a.role for a in session.exec(select(Agent))} == {"field", "callcentre", "manager", "admin"}
    assert {b.language for b in session.exec(select(Borrower))} == {"en", "sw"}
    loans = session.exec(select(Loan)).all()
    assert {loan.status for loan in loans} == {"active", "repaid"}
    # the books balance: every posted payment is fully allocated
    paid = session.exec(select(func.sum(Payment.amount))).one()
    allocated = session.exec(select(func.sum(LedgerEntry.amount))).one()
    assert paid == allocated > 0
    # arrears in every bucket
    today = NOW.date()
    days_late = set()
    for loan in loans:
        unpaid = [i for i in ledger.installments(session, loan.id) if i.outstanding > 0 and i.due_date < today]
        if unpaid:
            days_late.add((today - unpaid[0].due_date).days)
    buckets = {next(b for b, hi in ((1, 30), (2, 60), (3, 90), (4, 10**6)) if d <= hi) for d in days_late}
    assert buckets == {1, 2, 3, 4}
    # the books are dated when the money was paid, so history "as of" past dates is right
    assert session.exec(select(func.max(LedgerEntry.created_at))).one() < NOW
    # solar loans have PAYG devices whose past payments bought codes
    from gateway.models import Device, PaygToken
    assert session.exec(select(func.count()).select_from(Device)).one() == 25
    assert session.exec(select(func.count()).select_from(PaygToken)).one() > 0


def test_demo_refuses_a_database_with_data_unless_if_empty(settings):
    assert run("demo", "--borrowers", "3").exit_code == 0
    again = CliRunner().invoke(main, ["demo"])
    assert again.exit_code == 2 and "already has data" in again.output
    assert run("demo", "--if-empty").output.startswith("demo: database already has data")


def test_ussd_simulator_walks_the_menu_by_typing(settings, factory):
    b = factory.borrower("Amina Wanjiru", "+254712345678", language="sw")
    factory.loan(b)
    out = run("ussd", "0712345678", input="5\n1\n1\n0\n8\n1\n").output
    assert "Habari Amina." in out and "Choose your language:" not in out
    assert "Chagua lugha yako:" in out
    assert "Hello Amina." in out and "Loan " in out  # switched to English mid-session
    assert out.rstrip().endswith("Thank you. We will call you back within one working day.\n" + "-" * 30)
    hung_up = run("ussd", "0712345678", input="1\n").output
    assert "Balance: Ksh12,000" in hung_up and hung_up.rstrip().endswith("(session closed)")


def test_init_db_is_rerunnable(settings):
    assert run("init-db").exit_code == 0
    assert run("init-db").exit_code == 0


def test_ussd_simulator_with_no_gateway_at_the_url_says_so_in_one_line(settings):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/ussd"
    result = CliRunner().invoke(main, ["ussd", "0712345678", "--url", url])
    assert result.exit_code == 2
    assert result.output == f"Error: no answer from {url} (ConnectionError): is the gateway running there?\n"


def test_ussd_simulator_shows_a_refusal_rather_than_a_screen(settings):
    app = create_app(settings.with_(at_allowed_ips=(), at_callback_token="not-the-simulators"))
    server = make_server("127.0.0.1", 0, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/ussd"
        result = CliRunner().invoke(main, ["ussd", "0712345678", "--url", url])  # without the gateway's token
    finally:
        server.shutdown()
    assert result.exit_code == 2 and f"Error: {url} answered 403, not a USSD screen" in result.output


def test_the_demo_stand_ins_take_payments_on_the_paybill_the_demo_lender_quotes(settings, session):
    from gateway import serve
    from gateway.models import FieldPartner

    assert run("demo", "--borrowers", "2").exit_code == 0
    lender = session.exec(select(FieldPartner)).one()
    _, env = serve.stand_in_commands("127.0.0.1", 5000)
    assert env["MPESA_SHORTCODE"] == lender.paybill == "600966"  # what the welcome SMS and README's example say


def test_the_readmes_pursuit_rule_example_runs_on_the_demo(settings, session):
    """README "Cost against recovery", on the demo: `pursuit rule --partner ...` names the demo's lender
    (it said `--partner 1`: a lender is named, not numbered, and the command refused)."""
    import shlex
    from pathlib import Path

    line = next(x for x in Path("README.md").read_text().splitlines() if "gateway pursuit rule --partner" in x
                and "--stop" in x and x.strip().startswith(".venv/bin/gateway"))
    with time_machine.travel(NOW, tick=False):
        assert run("demo", "--borrowers", "10").exit_code == 0
    result = CliRunner().invoke(main, shlex.split(line)[1:])
    assert result.exit_code == 0, result.output
    assert "business loan: stop when cost reaches expected recovery on" in result.output
