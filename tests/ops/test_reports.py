"""Reports against a hand-built portfolio: every figure is worked out by hand below."""
import csv
import datetime as dt
from decimal import Decimal

import openpyxl
import pytest
import time_machine
from click.testing import CliRunner

from gateway.cli import main
from gateway.models import Agent, FieldPartner, Message
from gateway.ops import callcentre, reports
from tests.helpers import pay_on

UTC = dt.UTC


@pytest.fixture
def book(factory, session):
    """January 2027:
    A (Kisumu, onboarded by Otieno): 2 x 1,000 due Jan 10 and Feb 10; pays 1,000 on Jan 9.
    B (Mombasa): 3 x 1,000 due Dec 5, Jan 5, Feb 5; nothing in December; assigned to Wanjiku on
      Jan 2; pays 1,500 on Jan 20 (all of it to installments already late).
    C (Kisumu, onboarded by Otieno): 1,000 due Sep 1 2026; 121 days late on Dec 31; pays 400 on Jan 15.
    """
    otieno = Agent(name="Otieno", phone="+254733000001", role="field", field_partner_id=factory.partner.id,
                   branch="Kisumu")
    wanjiku = Agent(name="Wanjiku", phone="+254733000002", role="callcentre", field_partner_id=factory.partner.id)
    session.add_all([otieno, wanjiku])
    session.commit()
    a = factory.loan(factory.borrower("Asha Kisumu", branch="Kisumu", agent_id=otieno.id), principal="2000", count=2,
                     rate="0", first_due=dt.date(2027, 1, 10))
    b = factory.loan(factory.borrower("Bakari Mombasa", branch="Mombasa"), principal="3000", count=3, rate="0",
                     first_due=dt.date(2026, 12, 5))
    c = factory.loan(factory.borrower("Chausiku Kisumu", branch="Kisumu", agent_id=otieno.id), principal="1000",
                     count=1, rate="0", first_due=dt.date(2026, 9, 1))
    c.disbursed_on = dt.date(2026, 8, 1)
    session.add(c)
    session.commit()
    with time_machine.travel(dt.datetime(2027, 1, 2, 8, tzinfo=UTC), tick=False):
        callcentre.assign(session, [b.id], wanjiku.id, "agent:99")
        session.commit()
    pay_on(session, a, 100000, dt.date(2027, 1, 9), "PA")
    pay_on(session, c, 40000, dt.date(2027, 1, 15), "PC")
    pay_on(session, b, 150000, dt.date(2027, 1, 20), "PB")
    pay_on(session, a, 100000, dt.date(2027, 2, 10), "PA2")  # February: not in January's reports
    for when, template, lang, status, cost in [
            (dt.datetime(2027, 1, 3, tzinfo=UTC), "reminder_due", "sw", "delivered", 80),
            (dt.datetime(2027, 1, 4, tzinfo=UTC), "reminder_due", "sw", "undelivered", 80),
            (dt.datetime(2027, 1, 3, tzinfo=UTC), "reminder_due", "en", "failed", 0),
            (dt.datetime(2027, 1, 5, tzinfo=UTC), "reminder_due", "en", "sent", 80),
            (dt.datetime(2027, 1, 31, 23, tzinfo=UTC), "receipt", "sw", "queued", 0),
            (dt.datetime(2027, 2, 1, tzinfo=UTC), "receipt", "sw", "delivered", 80)]:
        session.add(Message(phone="+254712000001", kind="reminder", template=template, language=lang, text="x",
                            encoding="GSM-7", status=status, cost_minor=cost, created_at=when))
    session.commit()
    return a, b, c


def rows(report):
    return [dict(zip(report.columns, r, strict=True)) for r in report.rows]


def test_collections_report(session, book):
    got = {(r["period"], r["branch"]): r for r in rows(reports.collections_report(session, "2027-01"))}
    assert set(got) == {("week 2027-01-04", "Kisumu"), ("week 2027-01-04", "Mombasa"), ("week 2027-01-11", "Kisumu"),
                        ("week 2027-01-18", "Mombasa"), ("month 2027-01", "Kisumu"), ("month 2027-01", "Mombasa")}
    kisumu, mombasa = got[("month 2027-01", "Kisumu")], got[("month 2027-01", "Mombasa")]
    assert (kisumu["agent"], kisumu["expected"], kisumu["collected"], kisumu["recoveries"]) == (
        "Otieno", Decimal("1000.00"), Decimal("1400.00"), Decimal("400.00"))
    assert kisumu["collection_rate_excl_recoveries"] == Decimal("1.0000")  # 1,400 - 400 recovered, over 1,000 due
    assert kisumu["collection_rate_incl_recoveries"] == Decimal("1.4000")
    assert (mombasa["agent"], mombasa["expected"], mombasa["collected"], mombasa["collection_rate_excl_recoveries"],
            mombasa["recoveries"]) == ("-", Decimal("1000.00"), Decimal("1500.00"), Decimal("1.5000"), Decimal("0.00"))
    assert got[("week 2027-01-11", "Kisumu")]["collection_rate_excl_recoveries"] == ""  # nothing was due that week
    assert got[("week 2027-01-04", "Mombasa")]["collected"] == Decimal("0.00")


def test_funders_report(session, book):
    a, b, c = book
    got = {r["account"]: r for r in rows(reports.funders_report(session, "2027-01"))}
    assert [got[x.account_ref]["repaid_in_month"] for x in book] == [
        Decimal("1000.00"), Decimal("1500.00"), Decimal("400.00")]
    assert [got[x.account_ref]["outstanding_at_month_end"] for x in book] == [
        Decimal("1000.00"), Decimal("1500.00"), Decimal("600.00")]
    assert [got[x.account_ref]["days_past_due"] for x in book] == [
        0, 26, (dt.date(2027, 1, 31) - dt.date(2026, 9, 1)).days]
    assert got[b.account_ref]["borrower"] == "Bakari Mombasa"


def test_commissions_report_and_agent_breakdown(session, book, settings):
    report = reports.commissions_report(session, "2027-01", settings)
    a, b, c = book
    assert report.rows == [
        ["Otieno", "field", "onboarding", a.account_ref, "Asha Kisumu", "KES", Decimal("1000.00"), Decimal("200.00")],
        ["Otieno", "field", "total", "", "", "KES", "", Decimal("200.00")],
        ["Wanjiku", "callcentre", "recovery", b.account_ref, "", "KES", Decimal("1500.00"), Decimal("75.00")],
        ["Wanjiku", "callcentre", "total", "", "", "KES", "", Decimal("75.00")],
    ]
    assert reports.commissions_report(session, "2027-02", settings).rows == []  # A's fee is earned once
    cheaper = settings.with_(commission_onboard_fee="150", commission_recovery_rate="0.1")
    assert [r[-1] for r in reports.commissions_report(session, "2027-01", cheaper).rows] == [
        Decimal("150.00"), Decimal("150.00"), Decimal("150.00"), Decimal("150.00")]


def test_messaging_report(session, book):
    assert reports.messaging_report(session, "2027-01").rows == [
        ["receipt", "sw", 1, 0, 0, 0, 0, "KES", Decimal("0.00")],
        ["reminder_due", "en", 2, 1, 0, 1, 0, "KES", Decimal("0.80")],
        ["reminder_due", "sw", 2, 2, 1, 1, 0, "KES", Decimal("1.60")],
    ]


def test_cli_writes_csv_and_xlsx_with_the_same_rows(session, book, tmp_path):
    session.commit()
    for fmt in ("csv", "xlsx"):
        out = tmp_path / f"funders.{fmt}"
        result = CliRunner().invoke(main, ["report", "funders", "--month", "2027-01", "--format", fmt, "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert result.output == f"funders report for 2027-01 written to {out}\n"
    with open(tmp_path / "funders.csv", newline="") as fh:
        from_csv = list(csv.reader(fh))
    sheet = openpyxl.load_workbook(tmp_path / "funders.xlsx").active
    from_xlsx = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)][1:]
    assert from_csv[0] == reports.funders_report(session, "2027-01").columns
    assert from_xlsx[0][:3] == ["Account", "Borrower", "Product"]  # XLSX: a title row, then human headers
    assert len(from_csv) == len(from_xlsx) == 4
    # XLSX keeps numbers as numbers
    assert [Decimal(str(row[5])) for row in list(sheet.iter_rows(values_only=True))[2:]] == [
        Decimal(r[5]) for r in from_csv[1:]]
    bad = CliRunner().invoke(main, ["report", "funders", "--month", "January", "-o", str(tmp_path / "x.csv")])
    assert bad.exit_code == 2 and "month must look like 2027-01" in bad.output


def test_month_to_date_is_the_lenders_day_for_one_lender(session, factory, tmp_path):
    """At 22:30 UTC on 20 November it is still the 20th in Douala (UTC+1), already the 21st in Nairobi."""
    factory.partner.timezone = "Africa/Douala"
    nairobi = FieldPartner(name="Nairobi Lender", help_line="0800 000 001")
    session.add_all([factory.partner, nairobi])
    session.commit()
    out = tmp_path / "funders.csv"
    with time_machine.travel(dt.datetime(2026, 11, 20, 22, 30, tzinfo=UTC), tick=False):
        mine = reports.build(session, "funders", "2026-11", lenders=(factory.partner.id,))
        theirs = reports.build(session, "funders", "2026-11", lenders=(nairobi.id,))
        platform = reports.build(session, "funders", "2026-11", by_lender=True)  # several lenders: the default
        result = CliRunner().invoke(main, ["report", "funders", "--month", "2026-11", "--partner", "Jirani Finance",
                                           "-o", str(out)])
    assert (mine.as_of, theirs.as_of, platform.as_of) == (
        dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 21))
    assert mine.filename("2026-11", "csv") == "funders-2026-11-to-2026-11-20.csv"
    assert result.output == f"funders report for 2026-11 (month to date, as of 2026-11-20) written to {out}\n"
