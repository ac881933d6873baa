"""Cost against recovery: what pursuing a loan in arrears cost (AT's SMS cost, voice minutes, agent calls)
against what came back, by branch and agent; the product rule that stops reminders where pursuit costs what
it is expected to recover, checked by the planner and where the SMS leaves; the managers' decisions."""
import datetime as dt

import pytest
import time_machine
from click.testing import CliRunner
from sqlmodel import select

from gateway.borrowers import catalogue
from gateway.cli import main
from gateway.config import Settings
from gateway.i18n import Speaker
from gateway.models import (
    Agent,
    AuditEvent,
    CallStatus,
    FieldPartner,
    Flag,
    Loan,
    Message,
    Product,
    PursuitStop,
    Reminder,
    VoiceCall,
)
from gateway.ops import callcentre, costs
from gateway.web.console_session import set_password
from gateway.workers import sweeper
from gateway.workers.reminders import plan_reminders
from tests.helpers import NOW, PASSWORD, login, make_staff, pay_on, run_jobs, token

FIRST_DUE = dt.date(2026, 10, 20)  # installment 1 (KES 3,000) is a month late at NOW; installment 2 due on NOW's day
ARREARS = 300000  # minor units


def ksh(minor: int) -> str:
    return Speaker("en").money(minor, "KES")  # as the console shows it to an English reader


def _loan(factory, name, branch=""):
    return factory.loan(factory.borrower(name=name, language="en", branch=branch), first_due=FIRST_DUE)


def _rule(session, factory, percent: int, stop: bool = True):
    product = catalogue.find(session, factory.partner.id, "business loan")
    product.stop_pursuit_over_cost, product.expected_recovery_percent = stop, percent
    session.add(product)
    session.commit()


def _call(session, loan, agent, seconds=None):
    callcentre.log_call(session, loan.id, agent, "no_answer", duration_seconds=seconds)
    session.commit()


def _fresh(session, model, row_id):
    session.commit()  # end the test's own read transaction: see what the app committed since
    session.expire_all()
    row = session.get(model, row_id)
    session.commit()
    return row


@pytest.fixture
def caller(session, factory):
    return make_staff(session, factory, "callcentre", "Wanjiku Caller", "+254700100009")


@pytest.fixture
def manager(session, factory):
    return make_staff(session, factory, "manager", "Moses Manager", "+254700100004")


@pytest.mark.usefixtures("frozen_clock")
def test_at_sms_cost_is_stored_in_minor_units_and_counted_against_the_loan(at_server, session, factory):
    loan = _loan(factory, "Amina")
    plan_reminders()
    run_jobs()
    message = session.exec(select(Message)).one()
    assert (message.kind, message.status, message.cost, message.cost_minor) == ("reminder", "sent", "KES 0.8000", 80)
    figures = costs.loan_cost(session, Settings.from_env(), loan, NOW.date())
    assert (figures.sms_count, figures.sms, figures.total, figures.arrears) == (1, 80, 80, ARREARS)


@pytest.mark.usefixtures("frozen_clock")
def test_voice_minutes_and_agent_calls_are_costed(client, session, factory, caller, monkeypatch):
    loan = _loan(factory, "Amina")
    charged, timed = (VoiceCall(borrower_id=loan.borrower_id, loan_id=loan.id, purpose="collections",
                                dedupe_key=f"collections:{k}", session_id=f"ATVId_{k}", status=CallStatus.queued,
                                placed_at=NOW) for k in (1, 2))
    session.add_all([charged, timed])
    session.commit()
    # AT's final reports: one names what it charged ("7.5000" KES), the other only its length
    for call, extra in ((charged, {"amount": "7.5000", "currencyCode": "KES"}), (timed, {})):
        r = client.post("/voice/welcome", data={"isActive": "0", "sessionId": call.session_id, "status": "Success",
                                                "durationInSeconds": "121", **extra})
        assert r.status_code == 200
    assert (_fresh(session, VoiceCall, charged.id).cost_minor, _fresh(session, VoiceCall, charged.id).cost_currency) \
        == (750, "KES")
    assert _fresh(session, VoiceCall, timed.id).cost_minor == 0
    _call(session, loan, caller, seconds=130)  # 3 minutes (rounded up) and the agent's time
    _call(session, loan, caller)  # no duration logged: CALL_MINUTES_PER_CALL (3)
    monkeypatch.setenv("CALL_COST_PER_MINUTE", "400")
    figures = costs.loan_cost(session, Settings.from_env(), loan, NOW.date())
    # voice: 750 as AT charged + 3 minutes x 400; calls: 2 x 3 minutes x 400; agent time: 2 x 2000
    assert (figures.voice, figures.calls, figures.call_minutes, figures.agent_time) == (750 + 1200, 2400, 6, 4000)
    assert figures.total == 750 + 1200 + 2400 + 4000
    # the CLI shows the same figures
    out = CliRunner().invoke(main, ["pursuit", "loan", loan.account_ref.lower()], env={"CALL_COST_PER_MINUTE": "400"})
    assert out.exit_code == 0, out.output
    assert "pursuit cost KES83.50 (SMS KES0 for 0 reminders, voice KES19.50, calls KES24 over 6 min, agent time " \
           "KES40); recovered KES0; arrears KES3,000, expected recovery KES1,500" in out.output
    bad = CliRunner().invoke(main, ["pursuit", "loan", "NOPE123"])
    assert (bad.exit_code, bad.output.strip()) == (2, "Error: no loan NOPE123")


def test_report_by_branch_and_agent(at_server, session, factory):
    kisumu, nakuru = _loan(factory, "Amina", branch="Kisumu"), _loan(factory, "Baraka", branch="Nakuru")
    x = make_staff(session, factory, "callcentre", "Xavier", "+254700100011")
    y = make_staff(session, factory, "callcentre", "Yvonne", "+254700100012")
    callcentre.assign(session, [kisumu.id], x.id, "test")
    callcentre.assign(session, [nakuru.id], y.id, "test")
    session.commit()
    pay_on(session, kisumu, 100000, dt.date(2026, 11, 10), "TXNLATE001")  # after it went into arrears: recovered
    with time_machine.travel(NOW, tick=False):
        plan_reminders()
        run_jobs()
        _call(session, kisumu, x, seconds=130)
        _call(session, nakuru, y)
        out = CliRunner().invoke(main, ["report", "pursuit-cost", "--month", "2026-11", "-o", "-"])
        october = CliRunner().invoke(main, ["report", "pursuit-cost", "--month", "2026-10", "-o", "-"])
    assert out.exit_code == 0, out.output
    assert out.output.splitlines() == [
        "month,branch,agent,currency,loans,reminders,sms_cost,voice_cost,calls,call_minutes,call_cost,agent_cost,"
        "total_cost,recovered,recovered_per_cost",
        "2026-11,Kisumu,Xavier,KES,1,1,0.80,0.00,1,3,15.00,20.00,35.80,1000.00,27.9330",
        "2026-11,Nakuru,Yvonne,KES,1,1,0.80,0.00,1,3,15.00,20.00,35.80,0.00,0.0000",
    ]
    assert october.output.splitlines()[1:] == []  # nothing was spent or recovered in October
    bad = CliRunner().invoke(main, ["report", "pursuit-cost", "--month", "2026-13", "-o", "-"])
    assert bad.exit_code == 2 and bad.output.startswith("Error: ")


@pytest.mark.usefixtures("frozen_clock")
def test_a_loan_costing_more_than_it_will_recover_gets_no_reminder_and_waits_for_a_manager(
        at_server, client, session, factory, caller, manager):
    _rule(session, factory, percent=1)  # expected back: 1 % of KES 3,000 = KES 30
    costly, cheap = _loan(factory, "Amina"), _loan(factory, "Baraka")
    _call(session, costly, caller, seconds=120)  # 2 min x 5 + 20 = KES 30: pursuit has cost what it may bring back
    _call(session, cheap, caller, seconds=60)  # KES 25: not yet
    plan_reminders()
    run_jobs()
    assert [r.loan_id for r in session.exec(select(Reminder))] == [cheap.id]
    assert len(at_server.sms) == 1
    stop = session.exec(select(PursuitStop)).one()
    assert (stop.loan_id, stop.status, stop.cost, stop.expected_recovery, stop.arrears) == \
        (costly.id, "open", 3000, 3000, ARREARS)
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "pursuit.stopped")).one().entity_id == \
        str(costly.id)
    login(client, manager.phone)
    page = client.get("/ops/pursuit").get_data(as_text=True)
    assert "Pursuit stopped: decide" in page and costly.account_ref in page and cheap.account_ref not in page
    assert ksh(3000) in page
    loan_page = client.get(f"/ops/loans/{costly.id}").get_data(as_text=True)
    assert "Reminders stopped: pursuit costs more than it is expected to recover." in loan_page
    # a manager decides: a field visit, recorded and audited; reminders stay stopped
    r = client.post(f"/ops/pursuit/{stop.id}/decide", data={"decision": "field_visit", "note": "near the market",
                                                           "csrf_token": token(page)}, follow_redirects=True)
    assert "Decision recorded: field_visit." in r.get_data(as_text=True)
    stop = _fresh(session, PursuitStop, stop.id)
    assert (stop.status, stop.decision, stop.note, stop.decided_by) == ("decided", "field_visit", "near the market",
                                                                       f"agent:{manager.id}")
    assert session.exec(select(Flag).where(Flag.kind == "field_visit")).one().loan_id == costly.id
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "pursuit.decided")).one()
    assert (event.actor, event.data["decision"]) == (f"agent:{manager.id}", "field_visit")
    again = client.post(f"/ops/pursuit/{stop.id}/decide", data={"decision": "write_off", "note": "x",
                                                               "csrf_token": token(page)}, follow_redirects=True)
    assert "was already decided: field_visit" in again.get_data(as_text=True)
    bad = client.post(f"/ops/pursuit/{stop.id}/decide", data={"decision": "forgive", "csrf_token": token(page)},
                      follow_redirects=True)
    assert bad.status_code == 200 and "decision must be one of" in bad.get_data(as_text=True)
    assert "No loan waits for a decision." in client.get("/ops/pursuit").get_data(as_text=True)


def test_the_rule_is_checked_where_the_sms_leaves_on_a_retry(at_server, session, factory, caller):
    _rule(session, factory, percent=1)
    loan = _loan(factory, "Amina")
    at_server.sms_replies = [{"http": 500}]  # the first try fails: the SMS waits for its retry
    with time_machine.travel(NOW, tick=False) as clock:
        plan_reminders()
        run_jobs()
        message = session.exec(select(Message)).one()
        assert (message.status, len(at_server.sms)) == ("retrying", 1)
        _call(session, loan, caller, seconds=120)  # meanwhile pursuit has cost what it may bring back
        clock.shift(dt.timedelta(minutes=2))
        run_jobs()  # RQ's retry
        sweeper.sweep(older_than_seconds=0)  # and the sweeper finds nothing more to send
        run_jobs()
    assert _fresh(session, Message, message.id).status == "pursuit_stopped"
    assert len(at_server.sms) == 1  # only the failed first try ever reached AT
    assert session.exec(select(PursuitStop)).one().loan_id == loan.id


def test_the_reminder_job_checks_the_rule_again(at_server, session, factory, caller):
    """Planned while pursuit was still worth it; by the time its job runs, an agent's calls have cost the rest."""
    _rule(session, factory, percent=1)
    loan = _loan(factory, "Amina")
    with time_machine.travel(NOW, tick=False):
        plan_reminders()  # planned and enqueued, not run yet
        _call(session, loan, caller, seconds=120)
        run_jobs()
    reminder = session.exec(select(Reminder)).one()
    assert (reminder.status, reminder.message_id) == ("skipped_pursuit", None)
    assert session.exec(select(Message)).all() == [] and at_server.sms == []


def test_rule_off_or_generous_recovery_keeps_reminders(at_server, session, factory, caller):
    _rule(session, factory, percent=100)  # KES 3,000 expected back: KES 30 of calls is far from it
    loan = _loan(factory, "Amina")
    _call(session, loan, caller, seconds=120)
    with time_machine.travel(NOW, tick=False):
        plan_reminders()
        run_jobs()
    assert len(at_server.sms) == 1 and session.exec(select(PursuitStop)).all() == []


@pytest.mark.usefixtures("frozen_clock")
def test_cli_rule_list_and_write_off_decision(session, factory, caller, manager):
    out = CliRunner().invoke(main, ["pursuit", "rule", "--partner", "jirani finance", "--product",
                                    "business loan", "--stop", "--recovery-percent", "1"])
    assert out.output == "business loan: stop when cost reaches expected recovery on, expected recovery 1% of arrears\n"
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "product.pursuit_rule")).one()
    unknown = CliRunner().invoke(main, ["pursuit", "rule", "--partner", "jirani finance", "--product", "boat"])
    assert unknown.exit_code == 2 and "unknown product 'boat'" in unknown.output
    loan = _loan(factory, "Amina")
    _call(session, loan, caller, seconds=120)
    plan_reminders()
    listed = CliRunner().invoke(main, ["pursuit", "stopped"])
    stop = session.exec(select(PursuitStop)).one()
    assert f"{stop.id:>5}  {loan.account_ref}" in listed.output
    assert "cost        KES30  expected        KES30" in listed.output
    need_note = CliRunner().invoke(main, ["pursuit", "decide", str(stop.id), "write_off", "--as", manager.phone])
    assert (need_note.exit_code, need_note.output.strip()) == (2, "Error: a write-off needs a reason")
    not_manager = CliRunner().invoke(main, ["pursuit", "decide", str(stop.id), "write_off", "--as", caller.phone,
                                            "--note", "x"])
    assert not_manager.exit_code == 2 and "only a manager or admin decides" in not_manager.output
    ok = CliRunner().invoke(main, ["pursuit", "decide", str(stop.id), "write_off", "--as", manager.phone,
                                   "--note", "costs more than it brings"])
    assert ok.output == f"stop {stop.id}: write_off recorded\n"
    assert _fresh(session, Loan, loan.id).status == "written_off"
    assert _fresh(session, PursuitStop, stop.id).decision == "write_off"
    assert "no loan waits for a decision" in CliRunner().invoke(main, ["pursuit", "stopped"]).output


@pytest.mark.usefixtures("frozen_clock")
def test_restructure_resumes_pursuit_on_the_new_schedule(session, factory, caller, manager, client):
    _rule(session, factory, percent=1)
    loan = _loan(factory, "Amina")
    _call(session, loan, caller, seconds=120)
    plan_reminders()
    stop = session.exec(select(PursuitStop)).one()
    login(client, manager.phone)
    page = client.get("/ops/pursuit").get_data(as_text=True)
    missing = client.post(f"/ops/pursuit/{stop.id}/decide", data={"decision": "restructure", "note": "smaller",
                                                                  "csrf_token": token(page)}, follow_redirects=True)
    assert "Give the number of installments" in missing.get_data(as_text=True)
    client.post(f"/ops/pursuit/{stop.id}/decide", data={"decision": "restructure", "note": "smaller", "count": "6",
                                                        "first_due": "2026-12-20", "csrf_token": token(page)})
    assert _fresh(session, PursuitStop, stop.id).status == "resumed"
    assert not costs.check(session, Settings.from_env(), _fresh(session, Loan, loan.id))  # no arrears on it yet


@pytest.mark.usefixtures("frozen_clock")
def test_loan_page_shows_cost_against_recovery(client, session, factory, caller, manager):
    loan = _loan(factory, "Amina")
    pay_on(session, loan, 100000, dt.date(2026, 11, 10), "TXNLATE002")
    pay_on(session, loan, 50000, dt.date(2026, 10, 10), "TXNEARLY01")  # before the due date: not a recovery
    _call(session, loan, caller, seconds=120)
    login(client, manager.phone)
    page = client.get(f"/ops/loans/{loan.id}").get_data(as_text=True)
    assert "Cost against recovery" in page
    assert f"<span>Pursuit cost</span><b>{ksh(3000)}</b>" in page
    assert f"<span>Recovered</span><b>{ksh(100000)}</b>" in page


def test_another_lenders_loan_and_stop_are_not_found(client, session, factory, caller):
    _rule(session, factory, percent=1)
    loan = _loan(factory, "Amina")
    _call(session, loan, caller, seconds=120)
    with time_machine.travel(NOW, tick=False):
        plan_reminders()
    stop = session.exec(select(PursuitStop)).one()
    other = FieldPartner(name="Other Lender", help_line="0800 000 000", paybill="123456")
    session.add(other)
    session.commit()
    stranger = Agent(name="Olga Other", phone="+254700200004", role="manager", field_partner_id=other.id)
    set_password(stranger, PASSWORD)
    session.add(stranger)
    session.commit()
    login(client, stranger.phone)
    assert client.get(f"/ops/loans/{loan.id}").status_code == 404
    page = client.get("/ops/pursuit").get_data(as_text=True)
    assert loan.account_ref not in page
    r = client.post(f"/ops/pursuit/{stop.id}/decide", data={"decision": "field_visit", "csrf_token": token(page)})
    assert r.status_code == 404
    assert _fresh(session, PursuitStop, stop.id).status == "open"
    assert session.exec(select(Product).where(Product.field_partner_id == other.id)).all() == []


@pytest.mark.parametrize("amount,currency,expected", [
    ("7.5000", "KES", (750, "KES")), ("0.0050", "kes", (1, "KES")), ("120", "UGX", (120, "UGX")),
    ("", "KES", (0, "")), ("abc", "KES", (0, "")), ("-1", "KES", (0, "")), ("1e999999", "KES", (0, "")),
    ("NaN", "KES", (0, "")), ("5.00", "", (0, "")), ("5.00", "K$S", (0, "")), ("999999999999", "KES", (0, "")),
])
def test_what_at_charged_for_a_call_is_read_into_minor_units(amount, currency, expected):
    from gateway.providers.africastalking.voice import read_event
    event = read_event({"sessionId": "ATVId_1", "isActive": "0", "amount": amount, "currencyCode": currency})
    assert (event.cost_minor, event.cost_currency) == expected


def test_cli_rule_takes_the_lender_by_name_and_refuses_an_unknown_one(session, factory):
    by_name = CliRunner().invoke(main, ["pursuit", "rule", "--partner", factory.partner.name, "--product",
                                       "business loan", "--stop"])
    assert by_name.exit_code == 0 and "business loan: stop when cost reaches expected recovery on" in by_name.output
    missing = CliRunner().invoke(main, ["pursuit", "rule", "--partner", "99", "--product", "business loan"])
    assert (missing.exit_code, missing.output) == (2, "Error: no lender named '99' (known: Jirani Finance)\n")
    unnamed = CliRunner().invoke(main, ["pursuit", "stopped", "--partner", "Nobody Finance"])
    assert unnamed.exit_code == 2 and "no lender named 'Nobody Finance'" in unnamed.output
    assert CliRunner().invoke(main, ["pursuit", "stopped", "--partner", factory.partner.name]).output == (
        "no loan waits for a decision\n")


@pytest.mark.parametrize("duration", ["9" * 400, "99999999999", "1e5", "-3"])
@pytest.mark.usefixtures("frozen_clock")
def test_a_call_length_no_call_has_is_not_believed(client, session, factory, duration):
    """AT's durationInSeconds feeds the call's cost: 400 nines made float infinity and the callback a 500
    (OverflowError); 11 nines overflowed PostgreSQL's integer. Beyond a day it is not believed (None)."""
    loan = _loan(factory, "Amina")
    call = VoiceCall(borrower_id=loan.borrower_id, loan_id=loan.id, purpose="welcome",
                     dedupe_key=f"welcome:{loan.id}:0:1", session_id="ATVId_9", status=CallStatus.queued, placed_at=NOW)
    session.add(call)
    session.commit()
    r = client.post("/voice/welcome", data={"isActive": "0", "sessionId": "ATVId_9", "status": "Success",
                                            "durationInSeconds": duration})
    assert r.status_code == 200
    assert _fresh(session, VoiceCall, call.id).duration_seconds is None
