"""A lender added with `gateway partner add` starts from the default catalogue (products.toml), as
README "Products and onboarding rules" says, so its field agents can onboard at once."""
import datetime as dt
import re

from click.testing import CliRunner

from gateway.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def onboard(client, token, product, phone="0712 345 678"):
    first_due = (dt.date.today() + dt.timedelta(days=14)).isoformat()
    return client.post("/api/agents/borrowers", headers={"Authorization": f"Bearer {token}"}, json={
        "name": "Amina Wanjiru", "phone": phone, "language": "sw",
        "loan": {"product": product, "principal": "10000", "installments": 4, "first_due_date": first_due,
                 "rate_per_period": "0.05"}})


def test_a_new_lenders_field_agent_onboards_with_the_default_products(settings, client):
    assert run("partner", "add", "Mwanzo Credit", "--paybill", "600638").exit_code == 0
    added = run("staff", "add", "0722000115", "--name", "Fay Field", "--role", "field", "--partner", "Mwanzo Credit")
    token = re.search(r"API token \(shown once\): (\S+)", added.output).group(1)
    answer = onboard(client, token, "business loan")
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["account_ref"].startswith("BIZ")
    unknown = onboard(client, token, "boda boda", phone="0712 345 679")
    assert unknown.status_code == 400
    assert "'business loan', 'solar home system'" in unknown.get_json()["detail"]


def test_a_lender_in_another_currency_is_not_given_shilling_products(settings, client):
    assert run("partner", "add", "Kampala Credit", "--country", "UG", "--timezone", "Africa/Kampala",
               "--paybill", "600639").exit_code == 0
    added = run("staff", "add", "+256772000116", "--name", "Ivan Field", "--role", "field",
                "--partner", "Kampala Credit")
    assert added.exit_code == 0, added.output
    token = re.search(r"API token \(shown once\): (\S+)", added.output).group(1)
    answer = onboard(client, token, "business loan")
    assert answer.status_code == 400 and "the lender has no products yet" in answer.get_json()["detail"]
