"""End to end in a real browser: Playwright drives Debian's Chromium against the gateway served
from a real HTTP server thread. Skipped when /usr/bin/chromium is absent (`.ci/run` installs it)."""
import csv
import datetime as dt
import threading
from pathlib import Path

import openpyxl
import pytest
import time_machine
from sqlmodel import select
from werkzeug.serving import make_server

from gateway.models import Agent, LedgerEntry, Payment, Promise
from gateway.web.console_session import set_password

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)")
PASSWORD = "correct horse battery"
NOW = dt.datetime(2027, 1, 15, 9, tzinfo=dt.UTC)


@pytest.fixture
def live(app):
    with time_machine.travel(NOW, tick=True):
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_port}"
        server.shutdown()
        thread.join(5)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM),
                               args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


@pytest.fixture
def book(factory, session):
    manager = Agent(name="Moses Manager", phone="+254700100004", role="manager", field_partner_id=factory.partner.id)
    set_password(manager, PASSWORD)
    session.add(manager)
    late = factory.loan(factory.borrower("Baraka Otieno", branch="Kisumu"), principal="3000", count=3, rate="0",
                        first_due=dt.date(2026, 11, 1))
    factory.loan(factory.borrower("Amina Wanjiru", branch="Nakuru"), principal="1000", count=1, rate="0",
                 first_due=dt.date(2027, 2, 1))
    session.add(Payment(provider="mpesa", provider_txn_id="QK7SUSPENSE", amount=50000, currency="KES",
                        account_ref="BARAKA", payer_phone="+254712000001", status="suspense"))
    session.commit()
    return late


def log_in(page, base):
    page.goto(f"{base}/ops/dashboard")
    assert "/ops/login" in page.url
    page.get_by_label("Phone number").fill("0700 100 004")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/ops/dashboard")


def test_manager_logs_in_and_sees_the_dashboard_with_charts_also_on_a_phone(page, live, book):
    log_in(page, live)
    assert page.locator("h1").inner_text() == "Portfolio on 15 Jan 2027"
    assert page.locator("svg.chart").count() == 2
    assert page.locator("svg.chart polyline").count() == 3  # PAR1, PAR30, PAR90
    page.set_viewport_size({"width": 360, "height": 740})
    page.reload()
    # nothing wider than the phone: tables scroll inside their box, charts shrink
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.get_by_role("link", name="Kiswahili").click()
    assert page.locator("h1").inner_text() == "Mikopo tarehe 15 Jan 2027"


def test_resolve_suspense_log_a_promise_and_download_a_report(page, live, book, session, tmp_path):
    log_in(page, live)
    page.get_by_role("link", name="Suspense").click()
    row = page.locator("tr", has_text="QK7SUSPENSE")
    row.get_by_label("Loan account").fill(book.account_ref)
    row.get_by_role("button", name="Post to loan").click()
    assert page.get_by_role("status").inner_text() == f"Payment QK7SUSPENSE posted to loan {book.account_ref}."
    assert page.get_by_text("No payments in suspense.").is_visible()
    payment = session.exec(select(Payment).where(Payment.provider_txn_id == "QK7SUSPENSE")).one()
    assert payment.status == "posted"
    assert sum(e.amount for e in session.exec(select(LedgerEntry).where(LedgerEntry.payment_id == payment.id))) == 50000
    session.commit()

    page.get_by_role("link", name="Call queue").click()
    card = page.locator("article", has_text=book.account_ref)
    assert "Ksh2,500 in arrears, 75 days late" in card.inner_text()
    card.get_by_label("Outcome").select_option("promise")
    card.get_by_label("Promised date").fill("2027-01-19")
    card.get_by_label("Promised amount").fill("2500")
    card.get_by_label("Note").fill("pays after market day")
    card.get_by_role("button", name="Save call").click()
    assert page.get_by_role("status").inner_text() == "Call saved."
    promise = session.exec(select(Promise)).one()
    assert (promise.amount, promise.promised_date, promise.source) == (250000, dt.date(2027, 1, 19), "call")
    session.commit()

    page.get_by_role("link", name="Reports").click()
    page.get_by_label("Month").fill("2027-01")
    page.get_by_role("button", name="Show").click()
    item = page.locator("li", has_text="Repayment per loan (funders)")
    with page.expect_download() as download:
        item.get_by_role("link", name="XLSX").click()
    assert download.value.suggested_filename == "funders-2027-01-to-2027-01-15.xlsx"  # month to date
    path = tmp_path / "funders.xlsx"
    download.value.save_as(path)
    rows = list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))
    assert rows[1][:3] == ("Account", "Borrower", "Product")  # a title row, then the headers
    assert {r[0]: float(r[5]) for r in rows[2:]}[book.account_ref] == 500.0  # the suspense money, repaid in January
    with page.expect_download() as download:
        item.get_by_role("link", name="CSV").click()
    download.value.save_as(tmp_path / "funders.csv")
    with open(tmp_path / "funders.csv", newline="") as fh:
        assert len(list(csv.reader(fh))) == len(rows) - 1
