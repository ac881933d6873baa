"""Issue 12 item 3: Safaricom masks the payer of a C2B confirmation ('2547 ***** 542'); a mask
whose visible digits fit the borrower's number is not "paid from another number"."""
import datetime as dt

import pytest
from sqlmodel import select

from gateway import ledger
from gateway.models import Flag, Payment
from gateway.ops import flags


def pay(session, loan, payer, txn):
    p = Payment(provider="mpesa", provider_txn_id=txn, amount=10000, currency="KES", payer_phone=payer)
    session.add(p)
    session.flush()
    ledger.post_payment(session, p, loan.id)
    session.commit()
    return p


@pytest.mark.parametrize("payer", ["2547 ***** 542", "2547*****542", "254712***542", "0712***542", "254712345542"])
def test_a_masked_payer_whose_visible_digits_fit_raises_no_flag(factory, session, settings, payer):
    loan = factory.loan(factory.borrower(phone="+254712345542"), first_due=dt.date(2027, 1, 1))
    pay(session, loan, payer, "QX1")
    assert flags.scan(session, dt.date(2026, 12, 1), settings) == []
    assert session.exec(select(Flag)).all() == []


@pytest.mark.parametrize("payer,shown", [("2547 ***** 999", "2547*****999"), ("2541 ***** 542", "2541*****542"),
                                         ("0799111222", "+254799***222")])
def test_a_clear_mismatch_is_still_flagged(factory, session, settings, payer, shown):
    loan = factory.loan(factory.borrower(phone="+254712345542"), first_due=dt.date(2027, 1, 1))
    pay(session, loan, payer, "QX2")
    (flag,) = flags.scan(session, dt.date(2026, 12, 1), settings)
    assert flag.kind == "foreign_payer"
    assert flag.reason == f"paid from {shown}, not the borrower's number"


# Item 7: what the collections team reads.

PASSWORD = "a long enough password"


def console_login(client, session, factory, role="manager", phone="+254700100004"):
    import re

    from gateway.models import Agent
    from gateway.web.console_session import set_password

    agent = Agent(name="Moses", phone=phone, role=role, field_partner_id=factory.partner.id)
    set_password(agent, PASSWORD)
    session.add(agent)
    session.commit()
    page = client.get("/ops/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/ops/login", data={"phone": phone, "password": PASSWORD, "csrf_token": csrf})
    return agent


def test_flags_name_the_account_and_the_borrower(client, factory, session, settings):
    from gateway.models import Agent
    from gateway.web.auth import issue_token

    loan = factory.loan(factory.borrower("Baraka Otieno", phone="+254712345542"), first_due=dt.date(2027, 1, 1))
    pay(session, loan, "0799111222", "QX3")
    flags.scan(session, dt.date(2026, 12, 1), settings)
    session.commit()
    manager = Agent(name="M", phone="+254700100009", role="manager", field_partner_id=factory.partner.id)
    token = issue_token(manager)
    session.add(manager)
    session.commit()
    (flag,) = client.get("/api/ops/flags", headers={"Authorization": f"Bearer {token}"}).get_json()["flags"]
    assert (flag["account_ref"], flag["borrower_name"]) == (loan.account_ref, "Baraka Otieno")

    console_login(client, session, factory)
    html = client.get("/ops/flags").get_data(as_text=True)
    assert loan.account_ref in html and "Baraka Otieno" in html
    assert f"loan {loan.id}<" not in html


def test_the_payg_loan_page_shows_the_device_its_light_and_codes(client, factory, session, settings):
    import time_machine

    from gateway.payg.demo import add_demo_device

    loan = factory.loan(factory.borrower("Neema Solar"), principal="13000", count=26, frequency="weekly",
                        rate="0", product="solar home system", prefix="SOL", first_due=dt.date(2026, 12, 7))
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC), tick=False):
        add_demo_device(session, loan, "SHS-TEST-0001", daily_rate="50")
        session.commit()
        pay(session, loan, "+254712000001", "QX4")  # Ksh 100: two days of light
        console_login(client, session, factory)
        html = client.get(f"/ops/loans/{loan.id}").get_data(as_text=True)
    assert "SHS-TEST-0001" in html and "Days of light left" in html
    assert "add time" in html and "No codes yet." not in html


def test_the_dashboard_says_each_rows_currency(client, factory, session):
    factory.loan(factory.borrower(), first_due=dt.date(2027, 1, 1))
    console_login(client, session, factory)
    html = client.get("/ops/dashboard?by=field_partner").get_data(as_text=True)
    assert "<th>Currency</th>" in html and "<td>KES</td>" in html
    assert "Outstanding principal (KES)" in html


def test_date_fields_show_the_staff_locale_format_and_take_it(client, factory, session):
    from gateway.models import Promise

    loan = factory.loan(factory.borrower(), first_due=dt.date(2026, 11, 1))
    console_login(client, session, factory, role="callcentre", phone="+254700100003")
    html = client.get(f"/ops/loans/{loan.id}").get_data(as_text=True)
    assert 'type="date"' not in html and 'placeholder="dd/mm/yyyy"' in html  # not the browser's mm/dd/yyyy
    import re
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    promise_day = dt.date.today() + dt.timedelta(days=3)
    client.post(f"/ops/loans/{loan.id}/calls", data={"csrf_token": csrf, "outcome": "promise",
                                                     "promise_date": promise_day.strftime("%d/%m/%Y"),
                                                     "promise_amount": "1500", "note": ""})
    (promise,) = session.exec(select(Promise)).all()
    assert promise.promised_date == promise_day
