"""Lender administration in the console (issue 13, part 3): an admin sees and changes their own
lender's settings and staff (a new API token shown once, on the page); the platform role lists and
adds lenders; another lender's pages are a 404. Every change audited; credentials never shown."""
import re

import pytest
from sqlmodel import select

from gateway.lenders import partners
from gateway.models import Agent, AuditEvent, CodeKind, FieldPartner, LenderCode
from tests.helpers import login, make_staff, token


@pytest.fixture
def sola(session):
    partner = FieldPartner(name="Sola Bora", help_line="0800 1", paybill="600100", currency="TZS",
                           timezone="Africa/Dar_es_Salaam", sender_id="SOLABORA")
    session.add(partner)
    session.commit()
    return partner


def signed_in(client, session, factory, role, phone, partner=None):
    agent = make_staff(session, factory, role, f"{role.title()} One", phone)
    if partner is not None:
        agent.field_partner_id = partner.id
        session.add(agent)
        session.commit()
    assert login(client, phone).status_code == 302
    return agent


def csrf(client, path):
    return token(client.get(path).get_data(as_text=True))


def post(client, path, form_path, **data):
    return client.post(path, data={"csrf_token": csrf(client, form_path), **data})


def test_an_admin_changes_their_lenders_settings_and_codes(client, session, factory, settings):
    admin = signed_in(client, session, factory, "admin", "+254722500001")
    session.add(LenderCode(field_partner_id=factory.partner.id, kind=CodeKind.SHORTCODE, code="600966",
                           credentials=partners.seal_credentials(settings, {"consumer_key": "ck-zq81",
                                                                            "consumer_secret": "cs-zq82",
                                                                            "passkey": "pk-zq83"})))
    session.commit()
    page_path = f"/ops/lenders/{factory.partner.id}"
    page = client.get(page_path).get_data(as_text=True)
    assert "Settings of Jirani Finance" in page and "own Daraja keys" in page
    assert "zq8" not in page and "gAAAA" not in page  # neither the keys nor their sealed form

    res = post(client, page_path, page_path, help_line="0800 999 000", sender_id="JIRANI", languages="en,sw",
               paybill="600966")
    assert res.status_code == 302
    res = post(client, f"{page_path}/codes", page_path, kind="ussd", code="*384*55#")
    assert res.status_code == 302
    page = client.get(page_path).get_data(as_text=True)
    assert "Settings saved." not in page  # flashes were shown on the redirect's page, once
    assert 'value="0800 999 000"' in page and "*384*55#" in page

    bad = post(client, page_path, page_path, help_line="0800", sender_id="JIRANI FINANCE", languages="sw")
    assert bad.status_code == 400 and "sender id is at most 11 letters" in bad.get_data(as_text=True)

    code_id = session.exec(select(LenderCode.id).where(LenderCode.code == "*384*55#")).one()
    assert post(client, f"{page_path}/codes/{code_id}/remove", page_path).status_code == 302
    session.rollback()
    partner = session.get(FieldPartner, factory.partner.id)
    session.refresh(partner)
    assert (partner.help_line, partner.sender_id, partner.languages) == ("0800 999 000", "JIRANI", "en,sw")
    events = [(e.actor, e.action) for e in session.exec(select(AuditEvent).where(AuditEvent.action.like("partner.%"))
                                                         .order_by(AuditEvent.id))]
    assert events == [(f"agent:{admin.id}", "partner.changed"), (f"agent:{admin.id}", "partner.code_added"),
                      (f"agent:{admin.id}", "partner.code_removed")]


def test_an_admin_changes_country_currency_and_timezone_with_the_clis_checks(client, session, factory):
    admin = signed_in(client, session, factory, "admin", "+254722500011")
    page_path = f"/ops/lenders/{factory.partner.id}"
    page = client.get(page_path).get_data(as_text=True)
    assert 'name="country" value="KE"' in page and 'name="currency" value="KES"' in page
    assert 'name="timezone" value="Africa/Nairobi"' in page
    assert "Products, loans and borrowers already there keep their currency, country and timezone." in page
    for field, value, error in [("country", "XX", "country is a two-letter ISO code, e.g. KE (not &#39;XX&#39;)"),
                                ("currency", "SHILLINGS", "currency is an ISO 4217 code"),
                                ("timezone", "Africa/Atlantis", "timezone is an IANA name, e.g. Africa/Nairobi")]:
        bad = post(client, page_path, page_path, **{field: value})
        assert bad.status_code == 400 and error in bad.get_data(as_text=True), field
    session.rollback()
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "partner.changed")).all() == []

    # only what the form sends changes; an empty currency is the country's
    assert post(client, page_path, page_path, country="ug", currency="", timezone="Africa/Kampala").status_code == 302
    page = client.get(page_path).get_data(as_text=True)
    assert "Country: UG · Currency: UGX · Timezone: Africa/Kampala" in page
    session.rollback()
    partner = session.get(FieldPartner, factory.partner.id)
    session.refresh(partner)
    assert (partner.country, partner.currency, partner.timezone, partner.help_line) == (
        "UG", "UGX", "Africa/Kampala", "0800 720 000")
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "partner.changed")).one()
    assert (event.actor, event.data) == (f"agent:{admin.id}", {
        "before": {"country": "KE", "currency": "KES", "timezone": "Africa/Nairobi"},
        "after": {"country": "UG", "currency": "UGX", "timezone": "Africa/Kampala"}})


def test_the_platform_changes_any_lenders_timezone_in_the_console(client, session, factory, sola):
    signed_in(client, session, factory, "platform", "+254722500012")
    path = f"/ops/lenders/{sola.id}"
    assert post(client, path, path, timezone="Africa/Nairobi", currency="KES").status_code == 302
    session.rollback()
    session.refresh(sola)
    assert (sola.country, sola.currency, sola.timezone) == ("KE", "KES", "Africa/Nairobi")


def test_the_lender_page_speaks_the_console_language(client, session, factory):
    signed_in(client, session, factory, "admin", "+254722500013")
    page = client.get(f"/ops/lenders/{factory.partner.id}?lang=sw").get_data(as_text=True)
    assert "Bidhaa, mikopo na wakopaji waliopo hubaki na sarafu, nchi na saa za eneo zao." in page


def api_as(client, api_token):
    return client.get("/api/ops/commissions?month=2026-11", headers={"Authorization": f"Bearer {api_token}"})


def test_an_admin_adds_staff_sees_the_token_once_and_disables_them(client, session, factory):
    admin = signed_in(client, session, factory, "admin", "+254722500002")
    staff_path = f"/ops/lenders/{factory.partner.id}/staff"
    res = post(client, staff_path, staff_path, phone="0722 500 003", name="Faith Field", role="field", branch="")
    assert res.status_code == 201 and res.headers["Cache-Control"] == "no-store"
    shown = re.search(r'<code class="token">([^<]+)</code>', res.get_data(as_text=True)).group(1)
    api = api_as(client, shown)
    assert api.status_code == 200
    page = client.get(staff_path).get_data(as_text=True)
    assert shown not in page and "+254722***003" in page and "Faith Field" in page

    agent = session.exec(select(Agent).where(Agent.phone == "+254722500003")).one()
    again = post(client, f"{staff_path}/{agent.id}/token", staff_path)
    second = re.search(r'<code class="token">([^<]+)</code>', again.get_data(as_text=True)).group(1)
    assert api_as(client, shown).status_code == 401
    assert post(client, f"{staff_path}/{agent.id}/disable", staff_path).status_code == 302
    assert api_as(client, second).status_code == 401

    refused = post(client, staff_path, staff_path, phone="0722 500 004", name="Sneaky", role="platform")
    assert refused.status_code == 400 and "only platform staff may add" in refused.get_data(as_text=True)
    session.rollback()  # end the test's read, so the request's writes are not blocked
    operator = make_staff(session, factory, "platform", "Gateway Ops", "+254722500010")
    page = client.get(staff_path).get_data(as_text=True)
    assert "Gateway Ops" in page and f"/staff/{operator.id}/disable" not in page
    untouchable = post(client, f"{staff_path}/{operator.id}/disable", staff_path)
    assert untouchable.status_code == 400 and "only platform staff may" in untouchable.get_data(as_text=True)
    myself = post(client, f"{staff_path}/{admin.id}/disable", staff_path)
    assert myself.status_code == 400 and "you cannot disable yourself" in myself.get_data(as_text=True)
    session.rollback()
    actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.action.like("staff.%"))
                                              .order_by(AuditEvent.id))]
    assert actions == ["staff.added", "staff.token_issued", "staff.disabled"]
    assert all(shown not in str(e.data) for e in session.exec(select(AuditEvent)))


def test_another_lenders_pages_are_a_404(client, session, factory, sola):
    signed_in(client, session, factory, "admin", "+254722500005")
    other = make_staff(session, factory, "field", "Sola Field", "+254722500006")
    other.field_partner_id = sola.id
    session.add(other)
    session.commit()
    mine = f"/ops/lenders/{factory.partner.id}"
    form = {"csrf_token": csrf(client, mine)}
    for method, path in [("GET", f"/ops/lenders/{sola.id}"), ("GET", f"/ops/lenders/{sola.id}/staff"),
                         ("POST", f"/ops/lenders/{sola.id}"), ("POST", f"/ops/lenders/{sola.id}/codes"),
                         ("POST", f"/ops/lenders/{sola.id}/staff"),
                         ("POST", f"/ops/lenders/{sola.id}/staff/{other.id}/disable"),
                         ("POST", f"{mine}/staff/{other.id}/disable"),  # their staff under my lender's address
                         ("POST", f"{mine}/staff/{other.id}/token"), ("GET", "/ops/lenders/99999")]:
        res = client.open(path, method=method, data=form if method == "POST" else None)
        assert res.status_code == 404, (method, path, res.status_code)
    assert client.get("/ops/lenders").status_code == 403  # the list of lenders is the platform's
    session.refresh(other)
    assert other.active


def test_platform_lists_and_adds_lenders_and_platform_staff(client, session, factory, sola):
    signed_in(client, session, factory, "platform", "+254722500007")
    assert client.get("/ops/").location.endswith("/ops/lenders")
    page = client.get("/ops/lenders").get_data(as_text=True)
    assert "Jirani Finance" in page and "Sola Bora" in page
    res = post(client, "/ops/lenders", "/ops/lenders", name="Mwangaza Solar", country="UG", currency="",
               timezone="Africa/Kampala", languages="en,sw", help_line="0800 300 300", sender_id="MWANGAZA",
               ussd_code="*384*77#", paybill="600777")
    assert res.status_code == 302
    mwangaza = session.exec(select(FieldPartner).where(FieldPartner.name == "Mwangaza Solar")).one()
    assert (mwangaza.currency, mwangaza.paybill) == ("UGX", "600777")
    assert partners.codes(session, mwangaza.id, CodeKind.USSD) == ["*384*77#"]
    taken = post(client, "/ops/lenders", "/ops/lenders", name="Copycat", country="KE", timezone="Africa/Nairobi",
                 languages="sw", help_line="0800", paybill="600777")
    assert taken.status_code == 400 and "belongs to another lender (Mwangaza Solar)" in taken.get_data(as_text=True)
    assert client.get(f"/ops/lenders/{sola.id}").status_code == 200  # the platform sees every lender
    staff_path = f"/ops/lenders/{mwangaza.id}/staff"
    res = post(client, staff_path, staff_path, phone="+254722500008", name="Ops Two", role="platform")
    assert res.status_code == 201 and "API token of Ops Two, shown this once" in res.get_data(as_text=True)
    res = post(client, staff_path, staff_path, phone="0772 500 009", name="Mwangaza Admin", role="admin")
    assert res.status_code == 201
    session.rollback()
    assert session.exec(select(Agent.phone).where(Agent.name == "Mwangaza Admin")).one() == "+256772500009"
