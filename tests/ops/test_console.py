"""The operator console as a browser sees it (Flask test client): login, CSRF, roles, pages in
English and Kiswahili, forms that change the books, report downloads."""
import datetime as dt
import io
import re
from pathlib import Path

import openpyxl
import pytest
import time_machine
from babel.messages.pofile import read_po
from jinja2.ext import babel_extract
from sqlmodel import select

from gateway import i18n
from gateway.models import CallLog, LedgerEntry, Payment, Promise
from tests.helpers import PASSWORD, login, make_staff, token

UTC = dt.UTC
NOW = dt.datetime(2027, 1, 15, 9, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def book(factory, session):
    late = factory.loan(factory.borrower("Baraka Otieno", branch="Kisumu"), principal="3000", count=3, rate="0",
                        first_due=dt.date(2026, 11, 1))  # all 3,000 late, 75 days
    fine = factory.loan(factory.borrower("Amina Wanjiru", branch="Nakuru"), principal="1000", count=1, rate="0",
                        first_due=dt.date(2027, 2, 1))
    return late, fine


def test_login_needs_the_right_password_and_a_csrf_token(client, session, factory):
    make_staff(session, factory, "manager", "Moses", "+254700100004")
    assert client.get("/ops/dashboard").headers["Location"].startswith("/ops/login")
    r = login(client, "0700100004", "wrong password!")
    assert r.status_code == 401 and "Wrong phone number or password." in r.get_data(as_text=True)
    no_token = client.post("/ops/login", data={"phone": "0700100004", "password": PASSWORD})
    assert no_token.status_code == 400 and "The form expired." in no_token.get_data(as_text=True)
    r = login(client, "0700100004")
    assert r.status_code == 302 and r.headers["Location"] == "/ops/"
    assert client.get("/ops/").headers["Location"] == "/ops/dashboard"


def test_login_pauses_after_five_wrong_passwords(client, session, factory):
    make_staff(session, factory, "manager", "Moses", "+254700100004")
    for _ in range(5):
        assert login(client, "+254700100004", "wrong password!").status_code == 401
    r = login(client, "+254700100004")  # even the right password waits now
    assert r.status_code == 429 and "Too many wrong passwords. Try again in 15 minutes." in r.get_data(as_text=True)
    sw = client.get("/ops/login?lang=sw").get_data(as_text=True)
    r = client.post("/ops/login", data={"phone": "+254700100004", "password": PASSWORD, "csrf_token": token(sw)})
    assert "Umekosea nenosiri mara nyingi." in r.get_data(as_text=True)
    make_staff(session, factory, "admin", "Ada", "+254700100005")
    assert login(client, "+254700100005").status_code == 302  # other staff are not affected


def test_dashboard_shows_par_and_charts_in_both_languages(client, session, factory, book):
    make_staff(session, factory, "manager", "Moses", "+254700100004")
    login(client, "+254700100004")
    html = client.get("/ops/dashboard?by=branch").get_data(as_text=True)
    assert "Portfolio on 15 Jan 2027" in html
    assert "<b>75.0%</b>" in html  # PAR30: 3,000 of 4,000 outstanding principal
    assert html.count("<svg") == 2 and "<polyline" in html and "1 loans, Ksh3,000 outstanding" in html
    assert "<td>Kisumu</td>" in html and "<th>Branch</th>" in html
    sw = client.get("/ops/dashboard?lang=sw").get_data(as_text=True)
    assert "Mikopo tarehe 15 Jan 2027" in sw and "Mtaji uliobaki" in sw and "Mshirika" in sw
    assert "Mwenendo wa PAR" in sw and "Dashibodi" in sw


def test_roles_decide_what_each_staff_member_sees(client, session, factory, book):
    make_staff(session, factory, "field", "Faith", "+254700100001")
    login(client, "+254700100001")
    assert client.get("/ops/").headers["Location"] == "/ops/commissions"
    for page in ("/ops/suspense", "/ops/dashboard", "/ops/queue", "/ops/reports/funders.csv?month=2027-01"):
        r = client.get(page)
        assert r.status_code == 403 and "Your role cannot open this page." in r.get_data(as_text=True), page
    html = client.get("/ops/commissions").get_data(as_text=True)
    r = client.post("/ops/suspense/1/resolve", data={"csrf_token": token(html), "account_ref": "X"})
    assert r.status_code == 403  # a field agent can't resolve suspense
    assert client.get("/ops/reports/commissions.csv?month=2026-12").status_code == 200  # their own only


def test_suspense_payment_resolved_from_the_console(client, session, factory, book):
    late, _ = book
    make_staff(session, factory, "manager", "Moses", "+254700100004")
    p = Payment(provider="mpesa", provider_txn_id="QK7SUSPENSE", amount=50000, currency="KES",
                account_ref="BARAKA", payer_phone="+254712000001", status="suspense")
    session.add(p)
    session.commit()
    login(client, "+254700100004")
    html = client.get("/ops/suspense").get_data(as_text=True)
    assert "QK7SUSPENSE" in html and "BARAKA" in html
    r = client.post(f"/ops/suspense/{p.id}/resolve", data={"csrf_token": token(html), "account_ref": late.account_ref},
                    follow_redirects=True)
    assert f"Payment QK7SUSPENSE posted to loan {late.account_ref}." in r.get_data(as_text=True)
    assert "No payments in suspense." in r.get_data(as_text=True)
    assert sum(e.amount for e in session.exec(select(LedgerEntry).where(LedgerEntry.payment_id == p.id))) == 50000
    session.commit()


def test_suspense_refund_needs_a_reason(client, session, factory, book):
    make_staff(session, factory, "manager", "Moses", "+254700100004")
    p = Payment(provider="mpesa", provider_txn_id="QK7WRONG", amount=50000, currency="KES", status="suspense")
    session.add(p)
    session.commit()
    login(client, "+254700100004")
    html = client.get("/ops/suspense").get_data(as_text=True)
    r = client.post(f"/ops/suspense/{p.id}/refund", data={"csrf_token": token(html), "reason": " "},
                    follow_redirects=True)
    assert "give a reason" in r.get_data(as_text=True)
    r = client.post(f"/ops/suspense/{p.id}/refund", data={"csrf_token": token(html), "reason": "paid twice by mistake"},
                    follow_redirects=True)
    assert "Payment QK7WRONG marked as refunded." in r.get_data(as_text=True)
    session.expire_all()
    assert session.get(Payment, p.id).status == "refunded"


def test_call_queue_logs_a_promise_and_the_loan_page_shows_it(client, session, factory, book):
    late, fine = book
    make_staff(session, factory, "callcentre", "Carol", "+254700100003")
    login(client, "+254700100003")
    html = client.get("/ops/queue").get_data(as_text=True)
    assert "Ksh3,000 in arrears, 75 days late" in html and fine.account_ref not in html
    r = client.post(f"/ops/loans/{late.id}/calls", data={
        "csrf_token": token(html), "outcome": "promise", "promise_date": "2027-01-19", "promise_amount": "abc",
        "next": "/ops/queue"}, follow_redirects=True)
    assert "A promise needs a date and an amount." in r.get_data(as_text=True)
    r = client.post(f"/ops/loans/{late.id}/calls", data={
        "csrf_token": token(html), "outcome": "promise", "promise_date": "2027-01-19", "promise_amount": "1500",
        "note": "after harvest", "next": "/ops/queue"}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "Call saved." in page and "Nobody to call right now." in page  # waits for the promised date
    assert "Team today: 2 of 40 calls" not in page and "Team today: 1 of 40 calls" in page
    promise = session.exec(select(Promise)).one()
    assert (promise.amount, promise.promised_date, promise.source) == (150000, dt.date(2027, 1, 19), "call")
    loan_page = client.get(f"/ops/loans/{late.id}").get_data(as_text=True)
    assert "19 Jan 2027" in loan_page and "after harvest" in loan_page and "Promise to pay" in loan_page
    assert session.exec(select(CallLog)).one().note == "after harvest"


def test_report_downloads(client, session, factory, book):
    make_staff(session, factory, "admin", "Ada", "+254700100005")
    login(client, "+254700100005")
    html = client.get("/ops/reports?month=2027-01").get_data(as_text=True)
    assert html.count("download>CSV</a>") == 5
    csv = client.get("/ops/reports/funders.csv?month=2027-01")
    # pulled on 15 January: January is month to date, and says so
    assert csv.headers["Content-Disposition"] == "attachment; filename=funders-2027-01-to-2027-01-15.csv"
    assert csv.get_data(as_text=True).splitlines()[0].startswith("account,borrower,product")
    xlsx = client.get("/ops/reports/collections.xlsx?month=2027-01")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.data)).active
    title, headers = list(sheet.iter_rows(values_only=True))[:2]
    assert title[0] == "Collections and recoveries 2027-01 (month to date, as of 15 Jan 2027)"
    assert headers[:3] == ("Period", "Branch", "Agent")


TEMPLATES = Path(__file__).resolve().parents[2] / "gateway" / "ops" / "templates"


@pytest.mark.parametrize("lang", i18n.languages())
def test_every_console_text_is_in_the_catalogs(lang):
    with open(i18n.TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        catalog = {m.id: m.string for m in read_po(fh, locale=lang) if m.id}
    used = set()
    for path in TEMPLATES.glob("*.html"):
        with open(path, "rb") as fh:
            used |= {msg for _, _, msg, _ in babel_extract(fh, ["_"], [], {}) if isinstance(msg, str)}
    assert used and not used - set(catalog)
    if lang != "en":
        assert all(catalog[m] for m in used)


def test_manager_restructures_then_writes_off_from_the_loan_page(client, session, factory, book):
    late, _ = book
    make_staff(session, factory, "manager", "Moses", "+254700100004")
    login(client, "+254700100004")
    html = client.get(f"/ops/loans/{late.id}").get_data(as_text=True)
    r = client.post(f"/ops/loans/{late.id}/restructure", data={"csrf_token": token(html), "count": "x",
                                                               "first_due": "2027-02-01", "reason": "drought"},
                    follow_redirects=True)
    assert "Give the number of installments, the first due date and the rate." in r.get_data(as_text=True)
    r = client.post(f"/ops/loans/{late.id}/restructure", data={
        "csrf_token": token(html), "count": "6", "first_due": "2027-02-01", "frequency": "monthly", "rate": "0",
        "reason": "drought"}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "New schedule of 6 installments." in page and "1 Jul 2027" in page
    r = client.post(f"/ops/loans/{late.id}/write-off", data={"csrf_token": token(html), "reason": "moved away"},
                    follow_redirects=True)
    assert "Written off: Ksh3,000." in r.get_data(as_text=True)
    assert ">written off<" in r.get_data(as_text=True)
    kinds = sorted({e.kind for e in session.exec(select(LedgerEntry).where(LedgerEntry.loan_id == late.id))})
    assert kinds == ["restructure", "writeoff"]


def test_flags_page_scans_and_resolves(client, session, factory, book):
    late, _ = book
    make_staff(session, factory, "manager", "Moses", "+254700100004")
    login(client, "+254700100004")
    html = client.get("/ops/flags").get_data(as_text=True)
    assert "No open flags." in html
    r = client.post("/ops/flags/scan", data={"csrf_token": token(html)}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "1 new flags." in page and "in arrears and no payment for 75 days (limit 60)" in page
    flag_id = re.search(r'/ops/flags/(\d+)/resolve', page).group(1)
    r = client.post(f"/ops/flags/{flag_id}/resolve", data={"csrf_token": token(page), "note": "visited",
                                                           "next": "/ops/flags"}, follow_redirects=True)
    assert "Flag resolved." in r.get_data(as_text=True) and "No open flags." in r.get_data(as_text=True)
    session.commit()
    client.post("/ops/flags/scan?lang=sw", data={"csrf_token": token(page)})
    html = client.get(f"/ops/loans/{late.id}").get_data(as_text=True)
    assert "ina malimbikizo na hakuna malipo kwa siku 75 (kikomo 60)" in html and "imeshughulikiwa: visited" in html


def test_api_also_answers_a_console_session_with_csrf_for_changes(client, session, factory, book):
    late, _ = book
    make_staff(session, factory, "callcentre", "Carol", "+254700100003")
    login(client, "+254700100003")
    assert client.get("/api/ops/queue").json["items"][0]["loan_id"] == late.id
    assert client.get("/api/ops/portfolio").status_code == 403  # role still checked
    r = client.post(f"/api/ops/loans/{late.id}/calls", json={"outcome": "no_answer"})
    assert r.status_code == 403 and "X-CSRF-Token" in r.json["detail"]
    csrf = token(client.get("/ops/queue").get_data(as_text=True))
    r = client.post(f"/api/ops/loans/{late.id}/calls", json={"outcome": "no_answer"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201


@pytest.mark.parametrize("lang", i18n.languages())
def test_catalog_parses_without_problems(lang):
    """A msgid without its msgstr line is only a warning for Babel; here it is an error."""
    with open(i18n.TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        read_po(fh, locale=lang, abort_invalid=True)
