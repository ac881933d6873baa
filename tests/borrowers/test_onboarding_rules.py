"""Issue 12 items 2, 4, 5: onboarding opens only loans the lender's catalogue allows, for borrowers
a payment rail serves, on a mobile number; installments are whole shillings."""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import Session, select

from gateway.borrowers import catalogue
from gateway.models import Agent, Borrower, FieldPartner, Installment, Loan, Message, Product
from gateway.payments import rails
from gateway.web.auth import issue_token

MORNING = dt.datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Africa/Nairobi"))


@pytest.fixture
def headers(factory, session):
    agent = Agent(name="Peter Kamau", phone="+254722000001", role="field", field_partner_id=factory.partner.id)
    token = issue_token(agent)
    session.add(agent)
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def onboard(client, headers, phone="0712 345 678", **loan):
    spec = {"product": "business loan", "principal": "10000", "installments": 3, "first_due_date": "2026-12-01",
            "rate_per_period": "0.05"} | loan
    with time_machine.travel(MORNING, tick=False):
        return client.post("/api/agents/borrowers", headers=headers, json={
            "name": "Amina Wanjiru", "phone": phone, "language": "en", "loan": spec})


def stored(session, model):
    with Session(session.get_bind()) as fresh:
        return fresh.exec(select(model)).all()


def refused(res, *texts):
    assert res.status_code == 400, res.get_json()
    for text in texts:
        assert text in res.get_json()["detail"], res.get_json()["detail"]


def test_a_tanzanian_borrower_is_refused_with_the_reason(client, headers, session):
    res = onboard(client, headers, phone="+255712345678")
    refused(res, "no payment rail for a borrower in TZ paying in TZS", "KE in KES")
    assert stored(session, Borrower) == [] and stored(session, Message) == []


def test_a_push_is_offered_only_where_it_can_arrive():
    kenyan = Borrower(name="A", phone="+254712345678", country="KE", field_partner_id=1)
    tanzanian = Borrower(name="B", phone="+255712345678", country="TZ", field_partner_id=1)
    assert rails.can_push(Loan(currency="KES", borrower_id=1, product="x", principal=1, account_ref="X"), kenyan)
    assert not rails.can_push(Loan(currency="TZS", borrower_id=1, product="x", principal=1, account_ref="X"), tanzanian)
    assert not rails.can_push(Loan(currency="KES", borrower_id=1, product="x", principal=1, account_ref="X"), tanzanian)


@pytest.mark.parametrize("product", ["car loan", "Solar", "solar home"])
def test_an_unknown_product_lists_the_lenders_products(client, headers, session, product):
    refused(onboard(client, headers, product=product),
            f"unknown product {product!r}: the products are 'business loan', 'solar home system'")
    assert stored(session, Loan) == [] and stored(session, Borrower) == []


@pytest.mark.parametrize("loan,text", [
    ({"principal": "1000000000000"}, "loan.principal of a business loan must be from Ksh5,000 to Ksh500,000"),
    ({"principal": "100"}, "must be from Ksh5,000"),
    ({"installments": 60}, "loan.installments of a business loan must be from 1 to 24"),
    ({"first_due_date": "2020-01-01"}, "loan.first_due_date must be from today (2026-11-23) to 2027-01-07"),
    ({"first_due_date": "2027-06-01"}, "45 days ahead"),
    ({"product": "solar home system", "installments": 26, "first_due_date": "2026-12-25"}, "to 2026-12-07"),
])
def test_impossible_loans_are_refused(client, headers, session, loan, text):
    refused(onboard(client, headers, **loan), text)
    assert stored(session, Loan) == []


def test_a_landline_is_refused(client, headers, session):
    refused(onboard(client, headers, phone="020 2222222"), "is not a mobile number")
    assert stored(session, Borrower) == []


def test_products_are_each_lenders_own(client, headers, session, factory):
    other = FieldPartner(name="Sola Bora", help_line="0800 1", paybill="600100")
    session.add(other)
    session.flush()
    session.add(Product(field_partner_id=other.id, code="cow loan", names={"en": "cow loan"}, account_prefix="COW",
                        principal_min=100, principal_max=10**9))
    session.commit()
    refused(onboard(client, headers, product="cow loan"), "unknown product 'cow loan'")
    (solar,) = [p for p in catalogue.products(session, factory.partner.id) if p.code == "solar home system"]
    assert (solar.account_prefix, solar.payg, solar.frequency) == ("SOL", True, "weekly")


def test_installments_are_whole_shillings_the_last_absorbing_the_remainder(client, headers, session):
    res = onboard(client, headers, product="Business  Loan")
    assert res.status_code == 201, res.get_json()
    assert res.get_json()["account_ref"].startswith("BIZ")
    rows = sorted(stored(session, Installment), key=lambda i: i.seq)
    assert [(i.principal_due, i.interest_due) for i in rows] == [(333300, 50000), (333300, 50000), (333400, 50000)]
    (loan,) = stored(session, Loan)
    assert loan.product == "business loan" and loan.disbursed_on == dt.date(2026, 11, 23)
    (sms,) = stored(session, Message)
    assert "First payment Ksh3,833 due 1 Dec 2026" in sms.text


def test_solar_loans_round_too(client, headers, session):
    res = onboard(client, headers, product="solar home system", principal="13000", installments=26,
                  first_due_date="2026-11-30", rate_per_period="0.01", frequency="weekly")
    assert res.status_code == 201, res.get_json()
    assert res.get_json()["account_ref"].startswith("SOL")
    rows = sorted(stored(session, Installment), key=lambda i: i.seq)
    assert all(i.principal_due % 100 == 0 and i.interest_due % 100 == 0 for i in rows[:-1])
    assert sum(i.principal_due for i in rows) == 1300000


def test_a_borrower_speaks_one_of_the_lenders_languages(client, headers, session, factory):
    factory.partner.languages = "sw,en"
    session.add(factory.partner)
    session.commit()
    with time_machine.travel(MORNING, tick=False):
        res = client.post("/api/agents/borrowers", headers=headers, json={
            "name": "Awa Diop", "phone": "0712 345 679", "language": "fr",
            "loan": {"product": "business loan", "principal": "10000", "installments": 3,
                     "first_due_date": "2026-12-01", "rate_per_period": "0.05"}})
    refused(res, "language must be one of Jirani Finance's: sw, en")
    with time_machine.travel(MORNING, tick=False):  # none given: the lender's first
        res = client.post("/api/agents/borrowers", headers=headers, json={
            "name": "Amina Wanjiru", "phone": "0712 345 678",
            "loan": {"product": "business loan", "principal": "10000", "installments": 3,
                     "first_due_date": "2026-12-01", "rate_per_period": "0.05"}})
    assert res.status_code == 201, res.get_json()
    assert [b.language for b in stored(session, Borrower)] == ["sw"]
