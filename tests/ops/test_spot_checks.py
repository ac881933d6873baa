"""Spot checks: a month's stratified random sample of a lender's loans (reproducible from its
seed), verification calls with a script, a flag per discrepancy, the compliance report (CSV,
XLSX, console), the `gateway spot-check` commands and the monthly cron draw."""
import csv
import datetime as dt
import io

import openpyxl
import pytest
import time_machine
from click.testing import CliRunner
from sqlmodel import select

from gateway.cli import main
from gateway.models import AuditEvent, FieldPartner, Flag, SpotCheck, SpotCheckCall
from gateway.ops import reports, spotchecks
from gateway.workers.ops import monthly_spot_checks
from tests.helpers import login, make_staff, pay_on, read, token

NOW = dt.datetime(2026, 12, 5, 9, tzinfo=dt.UTC)
MONTH = "2026-11"
YES = dict.fromkeys(spotchecks.QUESTIONS, "yes")


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def book(session, factory):
    """November 2026 at Jirani: 12 new loans, 5 in arrears, 3 repaid, 3 older loans in no stratum
    (one repaid in October), and another lender's loan in arrears."""
    faith = make_staff(session, factory, "field", "Faith Field", "+254700200001")
    george = make_staff(session, factory, "field", "George Field", "+254700200002")
    ids = {"new": [], "arrears": [], "repaid": [], "old": []}
    for k in range(12):
        agent, branch = (faith, "Kisumu") if k % 2 else (george, "Nakuru")
        b = factory.borrower(f"New {k}", branch=branch, agent_id=agent.id)
        ids["new"].append(factory.loan(b, principal="1000", count=2, rate="0").id)
    for k in range(5):
        b = factory.borrower(f"Late {k}", branch="Kisumu", agent_id=faith.id)
        ids["arrears"].append(factory.loan(b, principal="1000", count=2, rate="0", first_due=dt.date(2026, 11, 10)).id)
    for k in range(3):
        b = factory.borrower(f"Repaid {k}", branch="Nakuru", agent_id=george.id)
        loan = factory.loan(b, principal="500", count=1, rate="0")
        pay_on(session, loan, 50000, dt.date(2026, 11, 20), f"RPD{k}")
        ids["repaid"].append(loan.id)
    for k in range(2):
        loan = factory.loan(factory.borrower(f"Old {k}"), principal="1000", count=2, rate="0")
        loan.disbursed_on = dt.date(2026, 10, 1)
        session.add(loan)
        ids["old"].append(loan.id)
    paid_before = factory.loan(factory.borrower("Repaid in October"), principal="500", count=1, rate="0")
    pay_on(session, paid_before, 50000, dt.date(2026, 10, 20), "RPDOCT")
    paid_before.disbursed_on = dt.date(2026, 9, 1)
    session.add(paid_before)
    ids["old"].append(paid_before.id)
    session.commit()
    other = FieldPartner(name="Other Lender", help_line="0800 000 111")
    session.add(other)
    session.commit()
    saved = factory.partner
    factory.partner = other
    late = factory.loan(factory.borrower("Elsewhere"), principal="1000", count=1, rate="0",
                        first_due=dt.date(2026, 11, 10), prefix="OTH")
    factory.partner = saved
    ids["other"] = [late.id]
    return ids


def drawn_loans(session, check_id):
    session.expire_all()
    return sorted((c.stratum, c.loan_id) for c in session.exec(
        select(SpotCheckCall).where(SpotCheckCall.spot_check_id == check_id)))


def test_strata_and_sizes_follow_the_book(session, factory, book):
    pools = spotchecks.populations(session, factory.partner.id, MONTH, NOW.date())
    assert pools == {"new": book["new"], "arrears": book["arrears"], "repaid": book["repaid"]}
    check, drawn = spotchecks.draw(session, factory.partner, MONTH, per_stratum=4, seed=7, actor="test")
    session.commit()
    assert drawn and check.seed == 7 and check.per_stratum == 4
    assert check.sizes == {"new": {"population": 12, "drawn": 4}, "arrears": {"population": 5, "drawn": 4},
                           "repaid": {"population": 3, "drawn": 3}}
    rows = drawn_loans(session, check.id)
    by = {s: [lid for st, lid in rows if st == s] for s in spotchecks.STRATA}
    assert len(by["new"]) == 4 and set(by["new"]) <= set(book["new"])
    assert len(by["arrears"]) == 4 and set(by["arrears"]) <= set(book["arrears"])
    assert by["repaid"] == book["repaid"]
    assert not {lid for _, lid in rows} & set(book["old"] + book["other"])
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "spot_check.drawn")).one()
    assert event.actor == "test" and event.data["seed"] == 7


def test_the_same_seed_draws_the_same_sample(session, factory, book):
    check, _ = spotchecks.draw(session, factory.partner, MONTH, per_stratum=3, actor="test")
    session.commit()
    first, seed = drawn_loans(session, check.id), check.seed  # no seed given: one was drawn and recorded
    assert isinstance(seed, int)
    spotchecks.draw(session, factory.partner, MONTH, per_stratum=3, seed=seed + 1, redraw=True, actor="test")
    session.commit()
    other = drawn_loans(session, check.id)
    spotchecks.draw(session, factory.partner, MONTH, per_stratum=3, seed=seed, redraw=True, actor="test")
    session.commit()
    assert drawn_loans(session, check.id) == first
    redrawn = session.exec(select(AuditEvent).where(AuditEvent.action == "spot_check.redrawn")).all()
    assert [e.data["seed"] for e in redrawn] == [seed + 1, seed]
    assert spotchecks.sample(spotchecks.populations(session, factory.partner.id, MONTH, NOW.date()), 3, seed + 1) == {
        s: [lid for st, lid in other if st == s] for s in spotchecks.STRATA}
    # a different seed gives a different sample of the 12 new loans (the draw is not just the first ids)
    samples = {tuple(spotchecks.sample({"new": book["new"], "arrears": [], "repaid": []}, 3, s)["new"])
               for s in range(10)}
    assert len(samples) > 1


def test_drawing_again_shows_the_existing_one_and_redraw_needs_no_outcomes(session, factory, book):
    caller = make_staff(session, factory, "callcentre", "Cate Caller", "+254700200003")
    check, drawn = spotchecks.draw(session, factory.partner, MONTH, per_stratum=2, seed=1, actor="test")
    session.commit()
    again, drawn_again = spotchecks.draw(session, factory.partner, MONTH, per_stratum=9, seed=2, actor="test")
    assert drawn and not drawn_again and again.id == check.id and again.seed == 1
    call = session.exec(select(SpotCheckCall).where(SpotCheckCall.spot_check_id == check.id)).first()
    spotchecks.record_outcome(session, call.id, caller, "unreachable")
    session.commit()
    with pytest.raises(spotchecks.SpotCheckError, match="already has 1 outcomes"):
        spotchecks.draw(session, factory.partner, MONTH, per_stratum=2, seed=3, redraw=True, actor="test")
    for month, problem in (("2027-01", "has not begun"), ("Nov 2026", "month must look like")):
        with pytest.raises(ValueError, match=problem):
            spotchecks.draw(session, factory.partner, month, actor="test")
    with pytest.raises(spotchecks.SpotCheckError, match="per stratum"):
        spotchecks.draw(session, factory.partner, "2026-10", per_stratum=0, actor="test")


def test_a_discrepancy_raises_exactly_one_flag(session, factory, book):
    caller = make_staff(session, factory, "callcentre", "Cate Caller", "+254700200003")
    check, _ = spotchecks.draw(session, factory.partner, MONTH, per_stratum=2, seed=5, actor="test")
    session.commit()
    calls = session.exec(select(SpotCheckCall).where(SpotCheckCall.spot_check_id == check.id)
                         .order_by(SpotCheckCall.id)).all()
    with pytest.raises(spotchecks.SpotCheckError, match="Answer every question"):
        spotchecks.record_outcome(session, calls[0].id, caller, "answered", {**YES, "received_amount": ""})
    done = spotchecks.record_outcome(session, calls[0].id, caller, "answered",
                                     {**YES, "received_amount": "no", "no_extra_charges": "No"}, note="got 800 only")
    session.commit()
    assert done.status == "discrepancy" and done.agent_id == caller.id and done.called_at is not None
    assert done.answers["received_amount"] == "no" and done.answers["no_extra_charges"] == "no"
    with pytest.raises(spotchecks.SpotCheckError, match="already has its outcome"):
        spotchecks.record_outcome(session, calls[0].id, caller, "answered", YES)
    assert spotchecks.record_outcome(session, calls[1].id, caller, "answered", YES).status == "confirmed"
    session.commit()
    flag = session.exec(select(Flag)).one()
    assert flag.kind == "spot_check_discrepancy" and flag.loan_id == calls[0].loan_id
    assert flag.reason == "spot check 2026-11: the borrower answered no to question 2, 4"
    raised = session.exec(select(AuditEvent).where(AuditEvent.action == "flag.raised")).one()
    assert raised.actor == f"agent:{caller.id}"
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "spot_check.call")).all()) == 2


def answer_all(session, factory, check, outcomes):
    """Record `outcomes` (confirmed | discrepancy | unreachable | pending) on the check's calls in order."""
    caller = make_staff(session, factory, "callcentre", "Cate Caller", "+254700200003")
    calls = session.exec(select(SpotCheckCall).where(SpotCheckCall.spot_check_id == check.id)
                         .order_by(SpotCheckCall.id)).all()
    for call, outcome in zip(calls, outcomes, strict=False):
        if outcome == "confirmed":
            spotchecks.record_outcome(session, call.id, caller, "answered", YES)
        elif outcome == "discrepancy":
            spotchecks.record_outcome(session, call.id, caller, "answered", {**YES, "exists_and_holds_loan": "no"})
        elif outcome == "unreachable":
            spotchecks.record_outcome(session, call.id, caller, "unreachable")
    session.commit()
    return caller


def test_report_gives_confirmed_percent_by_branch_and_agent(session, factory, book):
    check, _ = spotchecks.draw(session, factory.partner, MONTH, per_stratum=12, seed=1, actor="test")
    session.commit()
    # calls in id order: the 12 new loans (Nakuru/George, Kisumu/Faith alternating), 5 arrears (Kisumu/Faith),
    # 3 repaid (Nakuru/George)
    answer_all(session, factory, check, ["confirmed", "discrepancy", "confirmed", "confirmed", "unreachable"]
               + ["pending"] * 7 + ["discrepancy", "confirmed", "pending", "pending", "pending"]
               + ["confirmed", "confirmed", "confirmed"])
    built = spotchecks.report(session, check)
    assert built.columns == ["branch", "agent", "calls", "confirmed", "discrepancies", "unreachable", "pending",
                             "confirmed_rate"]
    pct = reports.Decimal
    assert built.rows == [
        ["Kisumu", "Faith Field", 11, 2, 2, 0, 7, pct("0.5000")],
        ["Nakuru", "George Field", 9, 5, 0, 1, 3, pct("1.0000")],
        ["all", "all", 20, 7, 2, 1, 10, pct("0.7778")],
    ]
    text = reports.render(built, "csv").decode()
    assert list(csv.reader(io.StringIO(text)))[1:] == [
        ["Kisumu", "Faith Field", "11", "2", "2", "0", "7", "0.5000"],
        ["Nakuru", "George Field", "9", "5", "0", "1", "3", "1.0000"],
        ["all", "all", "20", "7", "2", "1", "10", "0.7778"]]
    ws = openpyxl.load_workbook(io.BytesIO(reports.render(built, "xlsx", "sw"))).active
    assert ws["A1"].value == "Ukaguzi wa sampuli 2026-11"
    assert [c.value for c in ws[2]] == ["Tawi", "Wakala", "Simu", "Zimethibitishwa", "Tofauti", "Hawakupatikana",
                                        "Zinasubiri", "% iliyothibitishwa"]
    assert [c.value for c in ws[3]][:7] == ["Kisumu", "Faith Field", 11, 2, 2, 0, 7]
    assert ws["H5"].value == pytest.approx(0.7778) and ws["H5"].number_format == "0.0%"


def test_cli_draws_once_and_writes_the_report(session, factory, book, tmp_path):
    runner = CliRunner()
    first = runner.invoke(main, ["spot-check", "draw", "--partner", "Jirani Finance", "--month", MONTH,
                                 "--per-stratum", "2", "--seed", "99"])
    assert first.exit_code == 0, first.output
    assert first.output == ("spot check 2026-11 for Jirani Finance drawn: seed 99, new 2 of 12, arrears 2 of 5, "
                            "repaid 2 of 3 (6 calls)\n")
    again = runner.invoke(main, ["spot-check", "draw", "--partner", "Jirani Finance", "--month", MONTH])
    assert again.output.startswith("spot check 2026-11 for Jirani Finance already drawn: seed 99,")
    for args, error in (
            (["draw", "--partner", "Nobody", "--month", MONTH], "Error: no lender named 'Nobody'"),
            (["draw", "--partner", "Jirani Finance", "--month", "11/2026"], "Error: month must look like 2027-01"),
            (["draw", "--partner", "Jirani Finance", "--month", "2026-10", "--per-stratum", "0"],
             "Error: per stratum must be from 1 to 200"),
            (["report", "--partner", "Jirani Finance", "--month", "2026-10", "-o", "-"],
             "Error: no spot check of 2026-10 for Jirani Finance"),
            (["report", "--partner", "Jirani Finance", "--month", MONTH, "-o", "out.pdf"],
             "Error: -o must name a .csv or .xlsx file")):
        res = runner.invoke(main, ["spot-check", *args])
        assert res.exit_code == 2 and res.output.startswith(error) and res.output.count("\n") == 1, res.output
    check = session.exec(select(SpotCheck)).one()
    answer_all(session, factory, check, ["confirmed", "discrepancy"])
    refused = runner.invoke(main, ["spot-check", "draw", "--partner", "Jirani Finance", "--month", MONTH, "--redraw"])
    assert refused.exit_code == 2
    assert refused.output == "Error: the spot check of 2026-11 already has 2 outcomes: it cannot be drawn again\n"
    out = runner.invoke(main, ["spot-check", "report", "--partner", "Jirani Finance", "--month", MONTH, "-o", "-"])
    assert out.exit_code == 0
    lines = out.output.splitlines()
    assert lines[0] == "branch,agent,calls,confirmed,discrepancies,unreachable,pending,confirmed_rate"
    assert lines[-1] == "all,all,6,1,1,0,4,0.5000"
    target = tmp_path / "spot.xlsx"
    res = runner.invoke(main, ["spot-check", "report", "--partner", "Jirani Finance", "--month", MONTH,
                               "-o", str(target)])
    assert res.output == f"spot-check report for Jirani Finance 2026-11 written to {target}\n"
    ws = openpyxl.load_workbook(target).active
    assert ws["A1"].value == "Spot checks 2026-11" and ws.cell(ws.max_row, 3).value == 6


def test_monthly_cron_draws_every_lender_once(session, factory, book, monkeypatch):
    monkeypatch.setenv("SPOT_CHECK_PER_STRATUM", "1")
    result = monthly_spot_checks()
    assert result["month"] == MONTH
    assert {name: v["drawn"] for name, v in result["lenders"].items()} == {"Jirani Finance": True,
                                                                           "Other Lender": True}
    again = monthly_spot_checks()
    assert not any(v["drawn"] for v in again["lenders"].values())
    mine = session.exec(select(SpotCheck).where(SpotCheck.field_partner_id == factory.partner.id)).one()
    assert mine.sizes == {"new": {"population": 12, "drawn": 1}, "arrears": {"population": 5, "drawn": 1},
                          "repaid": {"population": 3, "drawn": 1}}


def other_lenders_staff(session, role, name, phone):
    from gateway.models import Agent
    from gateway.web.console_session import set_password
    from tests.helpers import PASSWORD

    other = session.exec(select(FieldPartner).where(FieldPartner.name == "Other Lender")).one()
    agent = Agent(name=name, phone=phone, role=role, field_partner_id=other.id)
    set_password(agent, PASSWORD)
    session.add(agent)
    session.commit()
    return agent


def test_console_manager_draws_and_caller_calls_with_the_script(app, session, factory, book):
    make_staff(session, factory, "manager", "Moses Manager", "+254700200004")
    make_staff(session, factory, "callcentre", "Cate Caller", "+254700200003")
    manager = app.test_client()
    login(manager, "+254700200004")
    page = manager.get("/ops/spot-checks").get_data(as_text=True)
    assert "Draw the sample" in page and 'value="2026-11"' in page  # the month just ended
    bad = manager.post("/ops/spot-checks/draw", follow_redirects=True,
                       data={"month": "2026-11", "per_stratum": "two", "csrf_token": token(page)})
    bad = bad.get_data(as_text=True)
    assert "Sample size and seed are whole numbers." in bad
    res = manager.post("/ops/spot-checks/draw", data={"month": "2026-11", "per_stratum": "2", "seed": "11",
                                                      "csrf_token": token(page)})
    check = session.exec(select(SpotCheck)).one()
    assert res.status_code == 302 and res.headers["Location"] == f"/ops/spot-checks/{check.id}"
    shown = manager.get(res.headers["Location"]).get_data(as_text=True)
    assert "Spot check drawn." in shown and "Seed: <b>11</b>" in shown and "arrears: 2 / 5" in shown
    again = manager.post("/ops/spot-checks/draw", data={"month": "2026-11", "csrf_token": token(page)},
                         follow_redirects=True).get_data(as_text=True)
    assert "This month was already drawn: here it is." in again and "Draw again (no call made yet)" in again

    caller = app.test_client()
    login(caller, "+254700200003")
    assert caller.get(f"/ops/spot-checks/{check.id}").status_code == 403  # the report is the managers'
    page = caller.get("/ops/spot-checks").get_data(as_text=True)
    calls = session.exec(select(SpotCheckCall).order_by(SpotCheckCall.id)).all()
    assert len(calls) == 6 and page.count('<ol class="script">') == 6
    first = calls[0]
    loan = session.get(spotchecks.Loan, first.loan_id)
    borrower = session.get(spotchecks.Borrower, loan.borrower_id)
    assert (f"Ask: are you {borrower.name}, and do you have loan {loan.account_ref} with Jirani Finance?"
            in page)
    assert "(The books say Ksh1,000 on 1 Nov 2026.)" in page
    assert "(The books say Ksh500, due 1 Dec 2026, 1 Jan 2027.)" in page
    sw = caller.get("/ops/spot-checks?lang=sw").get_data(as_text=True)
    assert f"Uliza: wewe ni {borrower.name}, na una mkopo {loan.account_ref} kutoka Jirani Finance?" in sw
    saved = caller.post(f"/ops/spot-checks/calls/{first.id}", data={
        **YES, "received_amount": "no", "outcome": "answered", "note": "got less", "csrf_token": token(sw)},
        follow_redirects=True).get_data(as_text=True)
    assert "Simu imehifadhiwa: tofauti." in saved and saved.count('<ol class="script">') == 5
    missing = caller.post(f"/ops/spot-checks/calls/{calls[1].id}", data={
        "outcome": "answered", "csrf_token": token(sw)}, follow_redirects=True).get_data(as_text=True)
    assert "Jibu kila swali ndiyo au hapana." in missing
    away = caller.post(f"/ops/spot-checks/calls/{calls[2].id}?lang=en", data={
        "outcome": "unreachable", "csrf_token": token(sw)}, follow_redirects=True).get_data(as_text=True)
    assert "Call saved: unreachable." in away and away.count('<ol class="script">') == 5  # to be tried again
    session.commit()  # end the test's read snapshot: the app wrote since
    assert [f.kind for f in read(session, select(Flag))] == ["spot_check_discrepancy"]

    report = manager.get(f"/ops/spot-checks/{check.id}").get_data(as_text=True)
    assert "Called by Cate Caller" in report and "got less" in report and "Received the amount: No" in report
    assert "Draw again" not in report  # a call has its outcome: the sample stays
    csv_file = manager.get(f"/ops/spot-checks/{check.id}/report.csv")
    assert csv_file.headers["Content-Disposition"] == "attachment; filename=spot-checks-2026-11.csv"
    assert csv_file.get_data(as_text=True).splitlines()[-1] == "all,all,6,0,1,1,4,0.0000"
    xlsx = manager.get(f"/ops/spot-checks/{check.id}/report.xlsx")
    assert openpyxl.load_workbook(io.BytesIO(xlsx.data)).active["A1"].value == "Spot checks 2026-11"
    assert manager.get(f"/ops/spot-checks/{check.id}/report.pdf").status_code == 404


def test_another_lenders_spot_check_is_a_404(app, session, factory, book):
    check, _ = spotchecks.draw(session, factory.partner, MONTH, per_stratum=2, seed=3, actor="test")
    session.commit()
    call = session.exec(select(SpotCheckCall)).first()
    other_lenders_staff(session, "manager", "Olga Other", "+254700200008")
    other_lenders_staff(session, "callcentre", "Oscar Other", "+254700200009")
    manager = app.test_client()
    login(manager, "+254700200008")
    assert manager.get(f"/ops/spot-checks/{check.id}").status_code == 404
    assert manager.get(f"/ops/spot-checks/{check.id}/report.csv").status_code == 404
    assert f'href="/ops/spot-checks/{check.id}"' not in manager.get("/ops/spot-checks").get_data(as_text=True)
    caller = app.test_client()
    login(caller, "+254700200009")
    page = caller.get("/ops/spot-checks").get_data(as_text=True)
    assert "No verification calls to make." in page
    res = caller.post(f"/ops/spot-checks/calls/{call.id}", data={**YES, "outcome": "answered",
                                                                  "csrf_token": token(page)})
    assert res.status_code == 404
    session.expire_all()
    assert session.get(SpotCheckCall, call.id).status == "pending"


def test_console_refusals_of_a_draw_are_in_the_managers_language(app, session, factory, book):
    """The console translated the refusal's text, which held the month or the limit: a Kiswahili manager
    read English ("2099-01 has not begun yet")."""
    make_staff(session, factory, "manager", "Moses Manager", "+254700200004")
    manager = app.test_client()
    login(manager, "+254700200004")
    page = manager.get("/ops/spot-checks?lang=sw").get_data(as_text=True)
    said = [manager.post("/ops/spot-checks/draw", follow_redirects=True,
                         data={"csrf_token": token(page), **form}).get_data(as_text=True)
            for form in ({"month": "2099-01"}, {"month": "2026-10", "per_stratum": "0"},
                         {"month": "11/2026"}, {"month": "2026-10", "seed": "-1"})]
    assert "2099-01 bado haujaanza" in said[0]
    assert "idadi kwa kila kundi lazima iwe kati ya 1 na 200" in said[1]
    assert "mwezi uandikwe kama 2027-01" in said[2]
    assert "mbegu (seed) lazima iwe namba kamili kati ya 0 na 2^63-1" in said[3]
