"""Issue 12 item 11: the month under way is "month to date" as of the day pulled, and says so;
collection rates with and without recoveries, labelled; XLSX for people (headers in the staff
member's language, money and percent formats, frozen header, widths); the messaging cost's currency;
the demo's history gives sensible rates."""
import datetime as dt
import io
from decimal import Decimal

import openpyxl
import time_machine
from click.testing import CliRunner

from gateway import demo
from gateway.cli import main
from gateway.models import Message
from gateway.ops import reports

NOW = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)


def test_the_month_under_way_is_month_to_date(session, factory, tmp_path):
    loan = factory.loan(factory.borrower(), principal="1000", count=1, rate="0", first_due=dt.date(2026, 11, 20))
    with time_machine.travel(NOW, tick=False):
        report = reports.build(session, "funders", "2026-12")
        (row,) = report.rows
        assert row[report.columns.index("days_past_due")] == 11  # as of 1 December, not 31 December
        assert report.as_of == dt.date(2026, 12, 1) and report.filename("2026-12", "csv") == \
            "funders-2026-12-to-2026-12-01.csv"
        out = tmp_path / "f.xlsx"
        result = CliRunner().invoke(main, ["report", "funders", "--month", "2026-12", "--format", "xlsx",
                                           "--language", "sw", "-o", str(out)])
    assert result.output == f"funders report for 2026-12 (month to date, as of 2026-12-01) written to {out}\n"
    sheet = openpyxl.load_workbook(out).active
    title, headers, first = list(sheet.iter_rows(min_row=1, max_row=3))
    assert title[0].value == "Marejesho ya kila mkopo 2026-12 (mwezi hadi leo, kufikia 1 Des 2026)"
    assert [c.value for c in headers][:5] == ["Akaunti", "Mkopaji", "Bidhaa", "Sarafu", "Mtaji"]
    assert sheet.freeze_panes == "A3"
    assert first[4].number_format == "#,##0.00" and first[4].value == 1000
    assert sheet.column_dimensions["B"].width >= len("Amina Wanjiru")
    assert loan.account_ref == first[0].value
    # a month that is over is the whole month
    assert reports.build(session, "funders", "2026-11").as_of is None


def test_collection_rates_are_labelled_with_and_without_recoveries_in_percent(session, factory, settings):
    factory.loan(factory.borrower(), principal="1000", count=1, rate="0", first_due=dt.date(2026, 11, 20))
    report = reports.collections_report(session, "2026-11")
    sheet = openpyxl.load_workbook(io.BytesIO(reports.render(report, "xlsx"))).active
    headers = [c.value for c in sheet[2]]
    assert headers[-2:] == ["Collection rate excl. recoveries", "Collection rate incl. recoveries"]
    rate = sheet.cell(3, len(headers))
    assert rate.value == 0 and rate.number_format == "0.0%"


def test_the_messaging_report_says_the_currency_of_its_cost(session, factory):
    session.add(Message(phone="+254712000001", kind="reminder", template="reminder_due", language="sw", text="x",
                        encoding="GSM-7", status="delivered", cost_minor=80,
                        created_at=dt.datetime(2026, 11, 3, tzinfo=dt.UTC)))
    session.commit()
    report = reports.messaging_report(session, "2026-11")
    row = dict(zip(report.columns, report.rows[0], strict=True))
    assert (row["currency"], row["cost"]) == ("KES", Decimal("0.80"))


def test_the_demo_history_gives_believable_collection_rates(session):
    with time_machine.travel(NOW, tick=False):
        demo.seed(session, borrowers=50)
        session.commit()
        report = reports.build(session, "collections", "2026-11")
    months = [dict(zip(report.columns, r, strict=True)) for r in report.rows if r[0].startswith("month")]
    collected, expected = (sum(row[c] for row in months) for c in ("collected", "expected"))
    assert Decimal("0.3") <= collected / expected <= Decimal("1.1"), (collected, expected)  # not 1,100 %
    assert all(row["collection_rate_incl_recoveries"] <= Decimal("1.5") for row in months), months
    # the demo's SMS history is not this month's traffic
    december = reports.messaging_report(session, "2026-12", dt.date(2026, 12, 1))
    assert december.rows == []
