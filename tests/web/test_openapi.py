"""The staff APIs against their OpenAPI document (gateway/openapi.json, served at /openapi.json).

Schemathesis generates requests from the document, valid ones and invalid ones, sends them to
the app with the token of the least privileged role each operation allows (its `x-roles`), on
the real database and Redis, and checks every answer: never a 500, only documented status
codes, JSON, and the documented shape. The examples in the document run first against a small
book (loan 1 in arrears, borrower 1, flag 1, device SHS-7781), so the success answers are
checked too, not only the errors.
"""
import datetime as dt
import json
import re
from dataclasses import dataclass
from importlib.resources import files

import pytest
import schemathesis
import time_machine
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.models import CallbackRequest, CommissionStatement, Message
from gateway.ops import flags
from gateway.payg.demo import add_demo_device
from tests.helpers import staff

NOW = dt.datetime(2027, 1, 15, 9, tzinfo=dt.UTC)  # 12:00 in Nairobi
PREFIXES = ("/api/agents/", "/api/ops/")  # what the document covers
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          ignored_auth]  # a 2xx is tried again without the token and with a wrong one: both must be refused
ROLES = ("field", "callcentre", "manager", "admin")
# The document the app serves (test_the_app_serves_the_packaged_document). Schemathesis loads it
# here, not from the app through a fixture: schemathesis.pytest.from_fixture reads
# Node._nodeid, which pytest 9.2 no longer has. Each test points the schema at its own app.
DOCUMENT = files("gateway").joinpath("openapi.json")
SPEC = json.loads(DOCUMENT.read_text())
schema = schemathesis.openapi.from_path(str(DOCUMENT))


@dataclass
class Book:
    headers: dict  # role -> {"Authorization": "Bearer ..."}


@pytest.fixture
def book(factory, session) -> Book:
    """Staff of every role (field agent 1, call-centre agent 2, manager 3, admin 4), loan 1 in
    arrears onboarded by the field agent, a PAYG loan with device SHS-7781, PAYG loan 3 without one yet, open flag 1,
    call-back request 1 (the borrower pressed "Call me back"), pending commission statements 1
    (field agent) and 2 (call-centre agent), and SMS 1 whose send died half-way (`unknown`)."""
    agents, headers = {}, {}
    for role in ROLES:
        agents[role], headers[role] = staff(session, factory, role)
    borrower = factory.borrower(agent_id=agents["field"].id, branch="Kisumu")
    unknown = Message(borrower_id=borrower.id, phone=borrower.phone, kind="transactional", template="receipt",
                      language="sw", text="Tumepokea Ksh500.", encoding="GSM-7", status="unknown")
    session.add(unknown)
    loan = factory.loan(borrower, principal="2000", count=2, rate="0", first_due=dt.date(2026, 12, 1))
    solar = factory.loan(factory.borrower(language="en"), principal="18000", count=12, rate="0",
                         product="solar home system", prefix="SOL")
    add_demo_device(session, solar, "SHS-7781")
    factory.loan(factory.borrower(language="en"), principal="18000", count=12, rate="0",  # loan 3: its device to come
                 product="solar home system", prefix="SOL")
    flag = flags.raise_flag(session, "bad_number", str(borrower.id), "call-centre reached a wrong number",
                            borrower_id=borrower.id, loan_id=loan.id)
    callback = CallbackRequest(borrower_id=borrower.id, loan_id=loan.id, reason="ussd_request", source_ref="ussd:S1")
    session.add(callback)
    for agent in (agents["field"], agents["callcentre"]):  # pending statements 1 and 2
        session.add(CommissionStatement(agent_id=agent.id, month="2026-12", currency="KES", total=20000, payable=20000))
    session.commit()
    # The document's examples name these ids (a fresh database numbers from 1).
    assert [a.id for a in agents.values()] == [1, 2, 3, 4]
    assert (borrower.id, loan.id, flag.id, callback.id, unknown.id) == (1, 1, 1, 1, 1)
    return Book(headers)


@schema.parametrize()
@hsettings(max_examples=15, derandomize=True, deadline=None,
           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                  HealthCheck.filter_too_much])
def test_staff_apis_answer_as_documented(case, app, book):
    case.operation.schema.app = app  # so that ignored_auth's probes reach this test's app too
    role = case.operation.definition.raw["x-roles"][0]  # the least privileged role allowed
    with time_machine.travel(NOW, tick=False):
        case.call_and_validate(app=app, headers=book.headers[role], checks=CHECKS)


def test_the_documented_example_of_each_operation_succeeds(client, book):
    """Schemathesis finds what fails; this makes sure each success answer is right too. One book
    for all: the write-off ends loan 1, so it goes last."""
    operations = sorted(((path, method, op) for path, item in SPEC["paths"].items() for method, op in item.items()),
                        key=lambda o: o[0].endswith("/write-off"))
    for path, method, op in operations:
        params = {p["name"]: p["example"] for p in op.get("parameters", [])}
        query = {p["name"]: p["example"] for p in op.get("parameters", []) if p["in"] == "query"}
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("example")
        with time_machine.travel(NOW, tick=False):
            res = client.open(path.format(**params), method=method.upper(), query_string=query, json=body,
                              headers=book.headers[op["x-roles"][0]])
        assert str(res.status_code) in op["responses"] and 200 <= res.status_code < 300, (path, res.get_json())


ONBOARD = SPEC["paths"]["/api/agents/borrowers"]["post"]["requestBody"]["content"]["application/json"]["example"]


def onboard(**changes):
    loan = ONBOARD["loan"] | changes.pop("loan", {})
    return ONBOARD | changes | {"loan": loan}


# Requests the views once answered with a 500 (on SQLite, PostgreSQL or both), or took a float
# for money; each now gets a clear 4xx in the documented {"error", "detail"} shape.
REFUSED = [
    ("POST", "/api/agents/borrowers", onboard(name=[None, None]), 400, "name must be text"),
    ("POST", "/api/agents/borrowers", onboard(timezone=[None]), 400, "timezone must be text"),
    ("POST", "/api/agents/borrowers", onboard(name="A" * 121), 400, "at most 120"),
    ("POST", "/api/agents/borrowers", onboard(branch="Kisumu\x00"), 400, "NUL"),
    ("POST", "/api/agents/borrowers", onboard(national_id="\ud800"), 400, "valid Unicode"),
    ("POST", "/api/agents/borrowers", onboard(loan={"principal": "1e999999999"}), 400, "too large"),
    ("POST", "/api/agents/borrowers", onboard(loan={"principal": 10000.5}), 400, "float"),
    ("POST", "/api/agents/borrowers", onboard(loan={"installments": 10**9}), 400, "must be from 1 to 24"),
    ("POST", "/api/agents/borrowers", onboard(loan={"rate_per_period": "NaN"}), 400, "rate must be"),
    ("POST", "/api/agents/borrowers", onboard(loan={"first_due_date": "9999-12-31"}), 400,
     "first_due_date must be from today"),
    ("POST", "/api/agents/borrowers", onboard(loan={"product": "car loan"}), 400, "the products are 'business loan'"),
    ("POST", "/api/agents/borrowers", onboard(phone="+255712345678"), 400, "no payment rail"),
    ("POST", "/api/agents/borrowers", onboard(loan={"product": {"a": 1}}), 400, "loan.product must be text"),
    ("POST", "/api/agents/borrowers/2147483648/welcome", None, 404, "not found"),
    ("POST", "/api/agents/loans/1/device", {"serial": "SHS\x00", "secret_key": "0" * 32, "daily_rate": "50"},
     400, "NUL"),
    ("POST", "/api/ops/devices/SHS-7781/tokens", {"kind": {}, "reason": "goodwill"}, 400, "kind must be text"),
    ("POST", "/api/ops/devices/SHS%00/tokens", {"days": 7, "reason": "goodwill"}, 400, "NUL"),
    ("GET", "/api/ops/portfolio?as_of=9999-12-31", None, 400, "as_of must be from"),
    ("GET", "/api/ops/loans/99999999999999999999/arrears", None, 404, "not found"),
    ("POST", "/api/ops/flags/7/resolve", {"note": "done"}, 404, "no flag 7"),
    ("POST", "/api/ops/flags/1/resolve", {"note": ["done"]}, 400, "note must be text"),
    ("POST", "/api/ops/loans/1/write-off", {"reason": [None, None]}, 400, "reason must be text"),
    ("POST", "/api/ops/loans/1/restructure", {"reason": "x", "count": {}, "first_due": "2027-02-01"},
     400, "whole number"),
    ("POST", "/api/ops/loans/1/restructure", {"reason": "x", "count": 10**9, "frequency": "weekly",
                                              "first_due": "2027-02-01"}, 400, "at most 520"),
    ("POST", "/api/ops/loans/1/restructure", {"reason": "x", "count": 3, "rate": "Infinity", "first_due": "2027-02-01"},
     400, "rate must be"),
    ("POST", "/api/ops/loans/1/restructure", {"reason": ["x"], "count": 3, "first_due": "2027-02-01"},
     400, "reason must be text"),
    ("POST", "/api/ops/queue/assign", {"loan_ids": [True], "agent_id": 2}, 400, "loan_ids"),
    ("POST", "/api/ops/queue/assign", {"loan_ids": [2**63], "agent_id": 2}, 400, "loan_ids"),
    ("POST", "/api/ops/loans/1/calls", {"outcome": "reached", "note": [None, None]}, 400, "note must be text"),
    ("POST", "/api/ops/loans/1/calls", {"outcome": "promise", "promise_date": "2027-01-18", "promise_amount": 500.5},
     400, "float"),
    ("GET", "/api/ops/commissions?month=0001-01", None, 400, "month must be from"),
    ("GET", "/api/ops/commissions?month=2027-01&agent_id=99999999999999999999", None, 400, "agent_id must be an id"),
]


def test_inputs_that_broke_the_views_are_refused_clearly(client, book):
    wrong = []  # one book for all (none of them may change it): a fresh one each costs more than the requests
    for method, url, body, status, detail in REFUSED:
        with time_machine.travel(NOW, tick=False):
            res = client.open(url, method=method, json=body, headers=book.headers["admin"])
        answer = res.get_json(silent=True) or {}
        if not (res.status_code == status and str(status) in _operation_for(url, method)["responses"]
                and set(answer) == {"error", "detail"} and detail.lower() in answer["detail"].lower()):
            wrong.append(f"{method} {url} {body!r}: {res.status_code} {res.get_data(as_text=True)[:200]}")
    assert wrong == []


def _operation_for(url: str, method: str) -> dict:
    path = url.split("?")[0]
    for template, item in SPEC["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path) and method.lower() in item:
            return item[method.lower()]
    raise AssertionError(f"{method} {url} is not documented")


def test_the_app_serves_the_packaged_document(client):
    res = client.get("/openapi.json")  # public: no token
    assert res.status_code == 200 and res.mimetype == "application/json"
    assert res.json == SPEC
    assert res.json["openapi"].startswith("3.") and "bearerAuth" in res.json["components"]["securitySchemes"]


def _documented(client) -> dict[tuple[str, str], dict]:
    paths = client.get("/openapi.json").json["paths"]
    return {(path, method.upper()): op for path, item in paths.items() for method, op in item.items()}


def _routes(app) -> dict[tuple[str, str], object]:
    """Every route of the app under the documented prefixes, in OpenAPI's path spelling."""
    routes = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIXES):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes[(path, method)] = app.view_functions[rule.endpoint]
    return routes


def test_every_route_is_documented_and_every_documented_operation_exists(app, client):
    routes, documented = _routes(app), _documented(client)
    assert sorted(set(routes) - set(documented)) == [], "routes missing from gateway/openapi.json"
    assert sorted(set(documented) - set(routes)) == [], "documented operations the app does not have"
    assert all(path.startswith(PREFIXES) for path, _ in documented)


def test_documented_roles_are_the_roles_the_views_check(app, client):
    documented = _documented(client)
    for key, view in _routes(app).items():
        assert set(documented[key]["x-roles"]) == set(view.roles), key
