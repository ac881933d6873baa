"""Issue 13 part 3, products are data: a lender's admin adds and changes products (CLI or console);
onboarding lends them, the welcome SMS names them in the borrower's language, their ladder drives
the reminders. Another lender's product is not one of yours."""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from click.testing import CliRunner
from sqlmodel import Session, select

from gateway.cli import main
from gateway.models import Agent, AuditEvent, FieldPartner, Loan, Product, Reminder
from tests.helpers import dial, login, make_staff, run_jobs, staff, token, walk

MORNING = dt.datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Africa/Nairobi"))
GOAT = ["product", "add", "goat loan", "--partner", "Jirani Finance", "--name-en", "goat loan",
        "--name", "sw=mkopo wa mbuzi", "--prefix", "GOT", "--ladder", "weekly", "--principal-min", "1,000",
        "--principal-max", "20000.50", "--installments-min", "2", "--installments-max", "10",
        "--frequency", "weekly", "--first-due-within-days", "10"]


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def onboard(client, headers, product="goat loan", language="sw", phone="0712 345 678", **loan):
    spec = {"product": product, "principal": "5000", "installments": 4, "first_due_date": "2026-12-01",
            "frequency": "weekly", "rate_per_period": "0.01"} | loan
    with time_machine.travel(MORNING, tick=True):
        res = client.post("/api/agents/borrowers", headers=headers, json={
            "name": "Amina Wanjiru", "phone": phone, "language": language, "loan": spec})
        run_jobs()
    return res


def fresh(session, statement):
    with Session(session.get_bind()) as s:
        return s.exec(statement).all()


def test_a_product_added_by_cli_is_lent_named_in_kiswahili_and_reminded_on_its_ladder(
        at_server, factory, session, client):
    added = run(*GOAT)
    assert added.exit_code == 0, added.output
    assert added.output == ("product goat loan of Jirani Finance: GOT, Ksh1,000 to Ksh20,000.50, 2-10 weekly "
                            "installments, ladder weekly, active\n")
    _, headers = staff(session, factory, "field")
    res = onboard(client, headers)
    assert res.status_code == 201, res.get_json()
    ref = res.get_json()["account_ref"]
    assert ref.startswith("GOT")
    assert at_server.sms[0]["message"].startswith(
        f"Karibu Jirani Finance, Amina! Umesajiliwa kwa mkopo wa mbuzi. Lipa kwa M-Pesa Paybill 600966, akaunti {ref}")
    # the weekly ladder: the friendly nudge the day before (the default ladder's is 3 days before)
    walk(session, dt.date(2026, 11, 27), dt.date(2026, 12, 1))
    (loan,) = fresh(session, select(Loan))
    planned = fresh(session, select(Reminder.local_day, Reminder.step).where(Reminder.loan_id == loan.id)
                    .order_by(Reminder.id))
    assert planned == [(dt.date(2026, 11, 30), "D-1"), (dt.date(2026, 12, 1), "D0")]
    # bounds are the product's
    res = onboard(client, headers, phone="0712 345 679", principal="500")
    assert res.status_code == 400 and "from Ksh1,000 to Ksh20,000.50" in res.get_json()["detail"]


def test_a_renamed_product_shows_its_new_name_and_a_new_ladder_drives_its_loans(at_server, factory, session, client):
    _, headers = staff(session, factory, "field")
    res = onboard(client, headers, product="business loan", frequency="monthly", principal="10000")
    assert res.status_code == 201, res.get_json()
    assert "Umesajiliwa kwa mkopo wa biashara." in at_server.sms[0]["message"]
    changed = run("product", "set", "business loan", "--partner", "Jirani Finance",
                  "--name", "sw=mkopo wa duka", "--ladder", "weekly")
    assert changed.exit_code == 0, changed.output
    assert "ladder weekly" in changed.output
    with time_machine.travel(MORNING, tick=True):
        assert client.post(f"/api/agents/borrowers/{res.get_json()['borrower_id']}/welcome",
                           headers=headers).status_code == 202
        run_jobs()
    assert "Umesajiliwa kwa mkopo wa duka." in at_server.sms[-1]["message"]
    walk(session, dt.date(2026, 11, 28), dt.date(2026, 11, 30))
    assert fresh(session, select(Reminder.local_day, Reminder.step)) == [(dt.date(2026, 11, 30), "D-1")]
    (data,) = fresh(session, select(AuditEvent.data).where(AuditEvent.action == "product.changed"))
    before, after = data["before"], data["after"]
    assert before == {"names": {"en": "business loan", "es": "préstamo para negocio", "fr": "prêt commercial",
                                "sw": "mkopo wa biashara"}, "ladder": "monthly"}
    assert after["ladder"] == "weekly" and after["names"]["sw"] == "mkopo wa duka"


def test_a_name_missing_in_the_borrowers_language_falls_back_to_the_lenders_first_language(
        at_server, factory, session, client):
    assert run(*GOAT).exit_code == 0  # named in sw and en, Jirani's languages then
    assert run("partner", "set", "Jirani Finance", "--languages", "sw,en,fr").exit_code == 0
    _, headers = staff(session, factory, "field")
    assert onboard(client, headers, language="fr").status_code == 201
    assert "mkopo wa mbuzi" in at_server.sms[0]["message"]


def test_another_lenders_product_is_not_yours(factory, session, client):
    assert run("partner", "add", "Sola Bora", "--help-line", "0800 1").exit_code == 0
    assert run(*[("Sola Bora" if a == "Jirani Finance" else a) for a in GOAT]).exit_code == 0
    _, headers = staff(session, factory, "field")
    res = onboard(client, headers)
    assert res.status_code == 400
    assert res.get_json()["detail"] == ("unknown product 'goat loan': the products are 'business loan', "
                                        "'solar home system'")
    refused = run("product", "set", "goat loan", "--partner", "Jirani Finance", "--round-to", "5")
    assert (refused.exit_code, refused.output.strip().count("\n")) == (2, 0)
    assert "no product 'goat loan' at Jirani Finance" in refused.output
    # the same prefix at another lender is fine; each lists its own
    assert "goat loan" not in run("product", "list", "--partner", "Jirani Finance").output
    assert "goat loan" in run("product", "list", "--partner", "Sola Bora").output


@pytest.mark.parametrize("change,error", [
    (["--ladder", "fortnightly"], "unknown ladder 'fortnightly' (known: monthly, weekly, or '' for the default)"),
    (["--prefix", "BIZ"], "prefix BIZ is already business loan's"),
    (["--prefix", "G1"], "prefix is 3 letters, e.g. BIZ"),
    (["--principal-min", "1000.005"], "--principal-min: 1000.005 has more decimals than KES allows"),
    (["--principal-min", "lots"], "--principal-min: not an amount: 'lots'"),
    (["--principal-min", "30000"], "principal-min must not be above principal-max"),
    (["--installments-min", "0"], "installments-min must be at least 1"),
    (["--installments-min", "ten"], "--installments-min must be a whole number, not 'ten'"),
    (["--frequency", "daily"], "frequency must be weekly or monthly"),
    (["--round-to", "99999999999"], "round-to must be from 0 (to the cent) to 100000 whole units"),
    (["--name", "sw="], "a name in sw is required (the lender's languages: sw, en)"),
    (["--name", "xx=kitu"], "no language 'xx' (known: en, es, fr, sw)"),
    (["--name", "kitu"], "--name is LANG=TEXT, e.g. sw=\"mkopo wa biashara\""),
])
def test_bad_input_is_one_line_and_exit_2(factory, session, change, error):
    base = run(*GOAT)
    assert base.exit_code == 0, base.output
    result = run("product", "set", "goat loan", "--partner", "Jirani Finance", *change)
    assert result.exit_code == 2, result.output
    assert result.output.strip().count("\n") == 0 and error in result.output, result.output
    (goat,) = fresh(session, select(Product).where(Product.code == "goat loan"))
    assert (goat.account_prefix, goat.ladder, goat.principal_min, goat.names["sw"]) == (
        "GOT", "weekly", 100000, "mkopo wa mbuzi")


def test_adding_twice_or_without_a_name_is_refused(factory, session):
    assert run(*GOAT).exit_code == 0
    again = run(*GOAT)
    assert again.exit_code == 2 and "Jirani Finance has a product 'goat loan' already" in again.output
    nameless = run("product", "add", "cow loan", "--partner", "Jirani Finance", "--prefix", "COW",
                   "--principal-min", "100", "--principal-max", "1000")
    assert nameless.exit_code == 2 and "a name in sw is required" in nameless.output


def test_list_and_deactivate(factory, session, client):
    listing = run("product", "list", "--partner", "Jirani Finance").output
    assert listing.splitlines() == [
        "business loan      BIZ  Ksh5,000 to Ksh500,000  1-24 monthly installments  ladder monthly  active",
        "solar home system  SOL  Ksh5,000 to Ksh60,000  4-104 weekly installments  ladder weekly  PAYG  active",
    ]
    assert run("product", "set", "business loan", "--partner", "Jirani Finance", "--inactive").exit_code == 0
    assert "inactive" in run("product", "list", "--partner", "Jirani Finance").output
    _, headers = staff(session, factory, "field")
    res = onboard(client, headers, product="business loan", frequency="monthly", principal="10000")
    assert res.status_code == 400 and "unknown product 'business loan'" in res.get_json()["detail"]
    actions = [e.action for e in fresh(session, select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["product.changed"]
    assert fresh(session, select(FieldPartner.name)) == ["Jirani Finance"]


# -- the console's products page, for a lender's admins ------------------------------------------------

def form(page: str, **fields) -> dict:
    data = {"csrf_token": token(page), "prefix": "GOT", "ladder": "weekly", "principal_min": "1000",
            "principal_max": "20000", "installments_min": "2", "installments_max": "10", "frequency": "weekly",
            "first_due_within_days": "10", "round_to": "1", "active": "on", "name_sw": "mkopo wa mbuzi",
            "name_en": "goat loan"}
    return {k: v for k, v in (data | fields).items() if v is not None}


def test_an_admin_adds_and_changes_products_in_the_console(at_server, factory, session, client):
    make_staff(session, factory, "admin", "Ada", "+254700100005")
    assert login(client, "0700100005").status_code == 302
    page = client.get("/ops/products").get_data(as_text=True)
    assert "Products of Jirani Finance" in page and "mkopo wa biashara" not in page and "business loan" in page
    # bad input: the reason, the form kept, nothing stored
    bad = client.post("/ops/products", data=form(page, code="goat loan", prefix="BIZ"))
    assert bad.status_code == 400
    assert "prefix BIZ is already business loan&#39;s" in bad.get_data(as_text=True)
    assert 'value="mkopo wa mbuzi"' in bad.get_data(as_text=True)
    assert fresh(session, select(Product).where(Product.code == "goat loan")) == []
    bad = client.post("/ops/products", data=form(page, code="goat loan", installments_max="ten"))
    assert bad.status_code == 400 and "installments-max must be a whole number, not &#39;ten&#39;" in bad.get_data(
        as_text=True)

    added = client.post("/ops/products", data=form(page, code="goat loan"))
    assert added.status_code == 302
    (goat,) = fresh(session, select(Product).where(Product.code == "goat loan"))
    assert (goat.names, goat.account_prefix, goat.principal_max, goat.ladder, goat.payg, goat.active) == (
        {"en": "goat loan", "sw": "mkopo wa mbuzi"}, "GOT", 2000000, "weekly", False, True)
    edit = client.get(f"/ops/products/{goat.id}").get_data(as_text=True)
    assert 'value="20000"' in edit and 'value="mkopo wa mbuzi"' in edit
    changed = client.post(f"/ops/products/{goat.id}", data=form(edit, name_sw="mkopo wa mbuzi jike", payg="on",
                                                                  active=None))
    assert changed.status_code == 302
    (goat,) = fresh(session, select(Product).where(Product.code == "goat loan"))
    assert (goat.names["sw"], goat.payg, goat.active) == ("mkopo wa mbuzi jike", True, False)
    actions = [(e.actor, e.action) for e in fresh(session, select(AuditEvent).order_by(AuditEvent.id))
               if e.action.startswith("product.")]
    admin = f"agent:{fresh(session, select(Agent.id).where(Agent.phone == '+254700100005'))[0]}"
    assert actions == [(admin, "product.added"), (admin, "product.changed")]
    # in Kiswahili, the page speaks Kiswahili
    assert "Bidhaa za Jirani Finance" in client.get("/ops/products?lang=sw").get_data(as_text=True)


def test_another_lenders_products_are_a_404_and_forms_need_their_csrf_token(factory, session, client):
    assert run("partner", "add", "Sola Bora", "--help-line", "0800 1").exit_code == 0
    assert run(*[("Sola Bora" if a == "Jirani Finance" else a) for a in GOAT]).exit_code == 0
    (theirs,) = fresh(session, select(Product).where(Product.code == "goat loan"))
    make_staff(session, factory, "admin", "Ada", "+254700100005")
    login(client, "0700100005")
    page = client.get("/ops/products").get_data(as_text=True)
    assert "goat loan" not in page
    assert client.get(f"/ops/products/{theirs.id}").status_code == 404
    assert client.post(f"/ops/products/{theirs.id}", data=form(page, name_sw="yetu")).status_code == 404
    assert client.get(f"/ops/products?partner={theirs.field_partner_id}").status_code == 404
    assert client.post("/ops/products", data=form(page, code="cow loan", prefix="COW",
                                                  partner=str(theirs.field_partner_id))).status_code == 404
    assert client.post("/ops/products", data=form(page, code="cow loan", prefix="COW",
                                                  csrf_token="forged")).status_code == 400
    assert [p.code for p in fresh(session, select(Product).order_by(Product.id))] == [
        "business loan", "solar home system", "goat loan"]
    (still,) = fresh(session, select(Product).where(Product.code == "goat loan"))
    assert still.names["sw"] == "mkopo wa mbuzi"


def test_the_ussd_menu_names_products_as_the_lender_does(factory, session, client):
    b = factory.borrower("Grace Akinyi", "+254733000222", language="sw")
    solar = factory.loan(b, product="solar home system", prefix="SOL")
    biz = factory.loan(b, product="business loan", prefix="BIZ")
    assert dial(client, b.phone, session_id="s1") == (
        f"CON Chagua mkopo:\n1 {solar.account_ref} mfumo wa sola wa nyumbani\n2 {biz.account_ref} mkopo wa biashara")
    assert run("product", "set", "business loan", "--partner", "Jirani Finance", "--name", "sw=mkopo wa duka",
               "--inactive").exit_code == 0  # no new loans; this one runs on, under its new name
    assert dial(client, b.phone, session_id="s2").endswith(f"2 {biz.account_ref} mkopo wa duka")


def test_a_prefix_taken_a_moment_ago_is_refused_by_the_database_too(factory, session, monkeypatch):
    from gateway.borrowers import products
    from gateway.borrowers.catalogue import ProductError
    from gateway.db import session_scope

    monkeypatch.setattr(products, "listing", lambda db, partner_id: [])  # as if BIZ were added meanwhile
    with pytest.raises(ProductError, match="has a product 'cow loan' or prefix BIZ already"), session_scope() as db:
        products.add(db, db.get(FieldPartner, factory.partner.id), "cow loan", products.Draft(
            dict(names={"sw": "mkopo wa ng'ombe", "en": "cow loan"}, account_prefix="BIZ"),
            principal_min="100", principal_max="1000"), "test")
    assert [p.code for p in fresh(session, select(Product))] == ["business loan", "solar home system"]


def test_the_platform_role_sees_and_changes_any_lenders_products(factory, session, client):
    assert run("partner", "add", "Sola Bora", "--help-line", "0800 1").exit_code == 0
    assert run(*[("Sola Bora" if a == "Jirani Finance" else a) for a in GOAT]).exit_code == 0
    (theirs,) = fresh(session, select(Product).where(Product.code == "goat loan"))
    make_staff(session, factory, "platform", "Pat", "+254700100009")
    login(client, "0700100009")
    page = client.get(f"/ops/products?partner={theirs.field_partner_id}").get_data(as_text=True)
    assert "Products of Sola Bora" in page and "goat loan" in page
    edit = client.get(f"/ops/products/{theirs.id}").get_data(as_text=True)
    assert client.post(f"/ops/products/{theirs.id}", data=form(edit, round_to="5")).status_code == 302
    (theirs,) = fresh(session, select(Product).where(Product.code == "goat loan"))
    assert theirs.round_to == 5
