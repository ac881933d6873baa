"""Console routes with an id no database holds (too large for its integer, or no such lender): a 404,
never a 500 (SQLite raised OverflowError on a 31-digit id; ?partner=999 rendered a page of no lender)."""
import pytest

from tests.helpers import login, make_staff, token

BIG = 10 ** 30


def signed_in(client, session, factory, role, phone):
    make_staff(session, factory, role, f"{role.title()} One", phone)
    assert login(client, phone).status_code == 302


@pytest.mark.parametrize("path", [
    f"/ops/products/{BIG}", f"/ops/lenders/{BIG}", f"/ops/lenders/{BIG}/staff", "/ops/products?partner=999",
    f"/ops/products?partner={BIG}", "/ops/products?partner=-3"])
def test_the_platform_role_asking_for_no_such_lender_or_product_gets_a_404(client, session, factory, path):
    signed_in(client, session, factory, "platform", "+254722500009")
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", [f"/ops/pursuit/{BIG}/decide", f"/ops/spot-checks/calls/{BIG}",
                                  f"/ops/loans/{BIG}/write-off", f"/ops/suspense/{BIG}/refund"])
def test_a_manager_posting_to_an_id_too_large_for_the_database_gets_a_404(client, session, factory, path):
    signed_in(client, session, factory, "manager", "+254722500008")
    csrf = token(client.get("/ops/spot-checks").get_data(as_text=True))
    res = client.post(path, data={"csrf_token": csrf, "decision": "write_off", "outcome": "reached",
                                  "reason": "x"})
    assert res.status_code == 404


@pytest.mark.parametrize("form", [{"loan_id": str(BIG), "agent_id": "1"}, {"loan_id": "1", "agent_id": str(BIG)}])
def test_assigning_a_loan_or_agent_id_too_large_for_the_database_is_a_404(client, session, factory, form):
    signed_in(client, session, factory, "manager", "+254722500008")
    csrf = token(client.get("/ops/queue").get_data(as_text=True))
    assert client.post("/ops/queue/assign", data={"csrf_token": csrf, **form}).status_code == 404


@pytest.mark.parametrize("path,form", [
    ("/ops/lenders", {"name": "Nul\x00Lender", "country": "KE", "timezone": "Africa/Nairobi", "languages": "sw",
                      "help_line": "0800 1"}),
    ("/ops/lenders/1/staff", {"phone": "+254722500111", "name": "Nul\x00Name", "role": "manager"}),
])
def test_a_nul_character_in_a_console_form_is_a_400(client, session, factory, path, form):
    """PostgreSQL text cannot hold NUL: the lender's name with one was a 500 there (SQLite stored it)."""
    signed_in(client, session, factory, "platform", "+254722500009")
    csrf = token(client.get("/ops/lenders").get_data(as_text=True))
    assert client.post(path, data={"csrf_token": csrf, **form}).status_code == 400
    assert client.post(path, data={"csrf_token": csrf, **form, "branch": ["ok", "x\x00"]}).status_code == 400
