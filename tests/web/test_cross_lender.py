"""Each lender sees only its own data: every staff route of the route table (tests/web/test_endpoint_auth.py)
is called by our lender's staff with the ids of another lender's records (tests/web/other_lender.py).

- record: a route about one record of the other lender answers 404 (never its data, never a 403,
  which would say it exists); the other lender's own staff, same request, get past that check.
- listing: the answer holds none of the other lender's rows; the other lender's staff see them
  (so the check can fail), and so does the platform role where it may call the route.
- effect: an action whose answer shows nothing: our staff's call leaves the other lender untouched,
  theirs does not.
- none: the route shows or touches no lender's records of its own choosing (the reason is said).

A staff route without an entry here fails: nobody adds a route without saying how it is scoped.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from sqlmodel import select

from gateway.app import create_app
from gateway.models import Agent, CommissionStatement, Flag
from gateway.ops import spotchecks
from gateway.web.auth import issue_token
from tests.web import other_lender
from tests.web.test_endpoint_auth import API, CONSOLE, ENDPOINTS, SERVED, password_hash

M = other_lender.MONTH


def record(path, body=None):
    return SimpleNamespace(kind="record", cases=[(path, body)])


def listing(*cases, marker, positive=True):
    """cases: paths, or (path, body) for a POST; `marker(o)`: text (or a regex) only the other lender's rows hold."""
    return SimpleNamespace(kind="listing", cases=[c if isinstance(c, tuple) else (c, None) for c in cases],
                           marker=marker, positive=positive)


def effect(path, body, made):
    """An action whose answer shows nothing: `made(session, o)` says whether it touched the other lender."""
    return SimpleNamespace(kind="effect", cases=[(path, body)], made=made)


def none(reason):
    return SimpleNamespace(kind="none", reason=reason)


def ref(o):
    return o.loan.account_ref


def callers_body(o):
    return {"outcome": "reached", "note": "checked"}


def spot_rows(o):
    """The other lender's spot check: a call to make on its loan, or the link to its report."""
    return re.compile(rf'{ref(o)}|/ops/spot-checks/{o.spot_check.id}"')


def lender(o, tail=""):
    return f"/ops/lenders/{o.partner.id}{tail}"


def member(o, action):
    return lender(o, f"/staff/{o.staff['field'].id}/{action}")


def product_body(o):
    """A product the other lender's admin may add or save as it is."""
    return {"code": "goat loan", "name_sw": "mkopo wa mbuzi", "name_en": "goat loan", "prefix": "GOT",
            "principal_min": "100", "principal_max": "900", "installments_min": "1", "installments_max": "12",
            "frequency": "monthly", "first_due_within_days": "31", "round_to": "0", "active": "on"}


def foreign_payer(session, o):
    """The flag a scan of the other lender's book raises: its payment from a number not the borrower's."""
    return session.exec(select(Flag).where(Flag.kind == "foreign_payer", Flag.loan_id == o.loan.id)).first()


CROSS = {
    ("POST", "/api/agents/borrowers"): none("creates a borrower of the caller's own lender only"),
    ("POST", "/api/agents/borrowers/<id:borrower_id>/welcome"):
        record(lambda o: f"/api/agents/borrowers/{o.borrower.id}/welcome"),
    ("POST", "/api/agents/loans/<id:loan_id>/device"):
        record(lambda o: f"/api/agents/loans/{o.loan.id}/device",
               lambda o: {"serial": "OURS-NEW-1", "daily_rate": "50", "secret_key": "b" * 32}),
    ("POST", "/api/ops/devices/<serial>/tokens"):
        record(lambda o: "/api/ops/devices/OTH-DEV-1/tokens", lambda o: {"kind": "add_time", "days": 1}),
    ("GET", "/api/ops/commissions"): listing(lambda o: f"/api/ops/commissions?month={M}", marker=ref),
    ("GET", "/api/ops/commissions/statements"):
        listing(lambda o: "/api/ops/commissions/statements", marker=lambda o: "Otieno Other"),
    ("POST", "/api/ops/commissions/statements/generate"):
        listing((lambda o: "/api/ops/commissions/statements/generate", lambda o: {"month": M}),
                marker=lambda o: "Otieno Other"),
    ("POST", "/api/ops/commissions/statements/<id:statement_id>/approve"):
        record(lambda o: f"/api/ops/commissions/statements/{o.pending.id}/approve"),
    ("POST", "/api/ops/commissions/statements/<id:statement_id>/return"):
        record(lambda o: f"/api/ops/commissions/statements/{o.pending.id}/return", lambda o: {"note": "no"}),
    ("POST", "/api/ops/commissions/payouts"):
        listing((lambda o: "/api/ops/commissions/payouts", lambda o: {"currency": "KES"}),
                marker=lambda o: "Otieno Other"),
    ("GET", "/api/ops/commissions/payouts/<batch>"): record(lambda o: f"/api/ops/commissions/payouts/{o.batch}"),
    ("GET", "/api/ops/flags"): listing(lambda o: "/api/ops/flags", marker=ref),
    ("POST", "/api/ops/flags/<id:flag_id>/resolve"):
        record(lambda o: f"/api/ops/flags/{o.flag.id}/resolve", lambda o: {"note": "checked"}),
    ("POST", "/api/ops/flags/scan"): effect(lambda o: "/api/ops/flags/scan", None, lambda s, o: foreign_payer(s, o)),
    ("GET", "/api/ops/messages/unknown"): listing(lambda o: "/api/ops/messages/unknown", marker=lambda o: "OTHMSG"),
    ("POST", "/api/ops/messages/<id:message_id>/resend"): record(lambda o: f"/api/ops/messages/{o.message.id}/resend"),
    ("GET", "/api/ops/loans/<id:loan_id>/arrears"): record(lambda o: f"/api/ops/loans/{o.loan.id}/arrears"),
    ("POST", "/api/ops/loans/<id:loan_id>/calls"): record(lambda o: f"/api/ops/loans/{o.loan.id}/calls", callers_body),
    ("POST", "/api/ops/callbacks/<id:request_id>/outcome"):
        record(lambda o: f"/api/ops/callbacks/{o.callback.id}/outcome", callers_body),
    ("GET", "/api/ops/loans/<id:loan_id>/open-promise"): record(lambda o: f"/api/ops/loans/{o.loan.id}/open-promise"),
    ("POST", "/api/ops/loans/<id:loan_id>/restructure"):
        record(lambda o: f"/api/ops/loans/{o.loan.id}/restructure",
               lambda o: {"reason": "checked", "count": 2, "first_due": "2026-12-10", "rate": "0"}),
    ("POST", "/api/ops/loans/<id:loan_id>/write-off"):
        record(lambda o: f"/api/ops/loans/{o.loan.id}/write-off", lambda o: {"reason": "checked"}),
    ("GET", "/api/ops/portfolio"): listing(lambda o: "/api/ops/portfolio?by=field_partner",
                                           marker=lambda o: re.compile(rf'"field_partner":\s*{o.partner.id}\b')),
    ("GET", "/api/ops/queue"): listing(lambda o: "/api/ops/queue", marker=ref),
    ("POST", "/api/ops/queue/assign"):
        record(lambda o: "/api/ops/queue/assign",
               lambda o: {"loan_ids": [o.loan.id], "agent_id": o.staff["callcentre"].id}),
    ("GET", "/api/ops/team"): listing(lambda o: "/api/ops/team", marker=lambda o: "Otieno Other callcentre"),
    ("GET", "/api/payments/suspense"): listing(lambda o: "/api/payments/suspense", marker=lambda o: "OTHSUSP01"),
    ("POST", "/api/payments/<id:payment_id>/assign"):
        record(lambda o: f"/api/payments/{o.suspended.id}/assign", lambda o: {"account_ref": o.loan.account_ref}),
    ("POST", "/api/payments/<id:payment_id>/refund"):
        record(lambda o: f"/api/payments/{o.suspended.id}/refund", lambda o: {"reason": "checked"}),
    ("POST", "/api/payments/<id:payment_id>/reverse"):
        record(lambda o: f"/api/payments/{o.payment.id}/reverse", lambda o: {"reason": "checked"}),
    ("GET", "/api/payments/callbacks"):
        listing(lambda o: "/api/payments/callbacks?status=failed", marker=lambda o: "OTHRAW01"),
    ("POST", "/api/payments/callbacks/<id:raw_id>/retry"):
        record(lambda o: f"/api/payments/callbacks/{o.raw.id}/retry"),
    ("GET", "/ops/"): none("sends each role to its own start page"),
    ("GET", "/ops/commissions"): listing(lambda o: f"/ops/commissions?month={M}", marker=ref),
    ("GET", "/ops/dashboard"):
        listing(lambda o: "/ops/dashboard?by=field_partner", marker=lambda o: "Other Lender Ltd"),
    ("GET", "/ops/flags"): listing(lambda o: "/ops/flags", marker=ref),
    ("POST", "/ops/flags/<id:flag_id>/resolve"):
        record(lambda o: f"/ops/flags/{o.flag.id}/resolve", lambda o: {"note": "checked"}),
    ("POST", "/ops/flags/scan"): effect(lambda o: "/ops/flags/scan", None, lambda s, o: foreign_payer(s, o)),
    ("GET", "/ops/loans/<id:loan_id>"): record(lambda o: f"/ops/loans/{o.loan.id}"),
    ("POST", "/ops/loans/<id:loan_id>/calls"): record(lambda o: f"/ops/loans/{o.loan.id}/calls", callers_body),
    ("POST", "/ops/loans/<id:loan_id>/restructure"):
        record(lambda o: f"/ops/loans/{o.loan.id}/restructure",
               lambda o: {"reason": "checked", "count": "2", "first_due": "2026-12-10", "rate": "0"}),
    ("POST", "/ops/loans/<id:loan_id>/write-off"):
        record(lambda o: f"/ops/loans/{o.loan.id}/write-off", lambda o: {"reason": "checked"}),
    ("GET", "/ops/queue"): listing(lambda o: "/ops/queue", marker=ref),
    ("POST", "/ops/queue/assign"):
        record(lambda o: "/ops/queue/assign", lambda o: {"loan_id": str(o.loan.id),
                                                         "agent_id": str(o.staff["callcentre"].id)}),
    ("POST", "/ops/queue/callbacks/<id:request_id>"):
        record(lambda o: f"/ops/queue/callbacks/{o.callback.id}", callers_body),
    ("GET", "/ops/reports"): none("the names of the reports, no figures"),
    ("GET", "/ops/reports/<name>.<fmt>"): listing(
        lambda o: f"/ops/reports/funders.csv?month={M}", lambda o: f"/ops/reports/commissions.csv?month={M}",
        marker=ref),
    ("GET", "/ops/statements"): listing(lambda o: "/ops/statements?month=2026-10", marker=lambda o: "Otieno Other"),
    ("POST", "/ops/statements/generate"):
        effect(lambda o: "/ops/statements/generate", lambda o: {"month": M},
               lambda s, o: s.exec(select(CommissionStatement).where(
                   CommissionStatement.agent_id == o.staff["field"].id, CommissionStatement.month == M)).first()),
    ("POST", "/ops/statements/<id:statement_id>/decide"):
        record(lambda o: f"/ops/statements/{o.pending.id}/decide", lambda o: {"decision": "approve"}),
    ("POST", "/ops/statements/payout"):
        listing((lambda o: "/ops/statements/payout", lambda o: {"format": "csv", "currency": "KES"}),
                marker=lambda o: "Otieno Other"),
    ("GET", "/ops/webhooks"): listing(lambda o: "/ops/webhooks", marker=lambda o: "other-hook", positive=True),
    ("POST", "/ops/webhooks/<id:endpoint_id>/test"): record(lambda o: f"/ops/webhooks/{o.hook.id}/test"),
    ("GET", "/ops/messages/unknown"): listing(lambda o: "/ops/messages/unknown", marker=lambda o: "OTHMSG"),
    ("POST", "/ops/messages/<id:message_id>/resend"): record(lambda o: f"/ops/messages/{o.message.id}/resend"),
    ("GET", "/ops/suspense"): listing(lambda o: "/ops/suspense", marker=lambda o: "OTHSUSP01"),
    ("POST", "/ops/suspense/<id:payment_id>/refund"):
        record(lambda o: f"/ops/suspense/{o.suspended.id}/refund", lambda o: {"reason": "checked"}),
    ("POST", "/ops/suspense/<id:payment_id>/resolve"):
        record(lambda o: f"/ops/suspense/{o.suspended.id}/resolve", lambda o: {"account_ref": o.loan.account_ref}),
    ("GET", "/ops/lenders"): none("the platform role's list of every lender: no lender's staff may call it"),
    ("POST", "/ops/lenders"): none("the platform role adds a lender: no lender's staff may call it"),
    ("GET", "/ops/lenders/<id:partner_id>"): record(lender),
    ("POST", "/ops/lenders/<id:partner_id>"):
        record(lender, lambda o: {"help_line": "0800 999 000", "languages": "sw,en", "paybill": "777001"}),
    ("POST", "/ops/lenders/<id:partner_id>/codes"):
        record(lambda o: lender(o, "/codes"), lambda o: {"kind": "shortcode", "code": "777003"}),
    ("POST", "/ops/lenders/<id:partner_id>/codes/<id:code_id>/remove"):
        record(lambda o: lender(o, f"/codes/{o.code.id}/remove")),
    ("GET", "/ops/lenders/<id:partner_id>/staff"): record(lambda o: lender(o, "/staff")),
    ("POST", "/ops/lenders/<id:partner_id>/staff"):
        record(lambda o: lender(o, "/staff"), lambda o: {"phone": "0711000999", "name": "New Other", "role": "field"}),
    ("POST", "/ops/lenders/<id:partner_id>/staff/<id:agent_id>/token"): record(lambda o: member(o, "token")),
    ("POST", "/ops/lenders/<id:partner_id>/staff/<id:agent_id>/disable"): record(lambda o: member(o, "disable")),
    ("GET", "/ops/products"):
        listing(lambda o: f"/ops/products?partner={o.partner.id}", marker=lambda o: o.product.code),
    ("POST", "/ops/products"): record(lambda o: f"/ops/products?partner={o.partner.id}", product_body),
    ("GET", "/ops/products/<id:product_id>"): record(lambda o: f"/ops/products/{o.product.id}"),
    ("POST", "/ops/products/<id:product_id>"): record(lambda o: f"/ops/products/{o.product.id}", product_body),
    ("GET", "/ops/spot-checks"): listing(lambda o: "/ops/spot-checks", marker=spot_rows),
    ("POST", "/ops/spot-checks/draw"):
        effect(lambda o: "/ops/spot-checks/draw", lambda o: {"month": "2026-10", "seed": "1"},
               lambda s, o: spotchecks.find(s, o.partner.id, "2026-10")),
    ("GET", "/ops/spot-checks/<id:check_id>"): record(lambda o: f"/ops/spot-checks/{o.spot_check.id}"),
    ("GET", "/ops/spot-checks/<id:check_id>/report.<fmt>"):
        record(lambda o: f"/ops/spot-checks/{o.spot_check.id}/report.csv"),
    ("POST", "/ops/spot-checks/calls/<id:call_id>"):
        record(lambda o: f"/ops/spot-checks/calls/{o.spot_call.id}",
               lambda o: {"outcome": "answered", **dict.fromkeys(spotchecks.QUESTIONS, "yes")}),
    ("GET", "/ops/pursuit"): listing(lambda o: "/ops/pursuit", marker=lambda o: o.stopped.account_ref),
    ("POST", "/ops/pursuit/<id:stop_id>/decide"):
        record(lambda o: f"/ops/pursuit/{o.stop.id}/decide", lambda o: {"decision": "field_visit"}),
}
STAFF_ROUTES = sorted(k for k in SERVED if ENDPOINTS.get(k, ("?",))[0] in (API, CONSOLE))
ROLE_ORDER = ("admin", "manager", "callcentre", "field")  # strongest first: the controls run as that one


def test_every_staff_route_says_how_it_is_scoped():
    assert sorted(set(STAFF_ROUTES) - CROSS.keys()) == [], "add these staff routes to CROSS"
    assert sorted(CROSS.keys() - set(STAFF_ROUTES)) == [], "these are no staff routes (any more): remove them"


@pytest.fixture
def world(session, factory):
    ours = {}
    for k, role in enumerate((*ROLE_ORDER, "platform")):
        agent = Agent(name=f"Our {role}", phone=f"+25470000080{k}", role=role, field_partner_id=factory.partner.id,
                      password_hash=password_hash())
        ours[role] = (agent, issue_token(agent))
        session.add(agent)
    session.commit()
    other = other_lender.admin_records(session, factory, other_lender.build(session, factory, password_hash()))
    return SimpleNamespace(ours={r: (a.id, t) for r, (a, t) in ours.items()}, other=other,
                           theirs={r: (a.id, other.tokens[r]) for r, a in other.staff.items()})


def call(app, kind, method, path, body, who):
    agent_id, token = who
    client = app.test_client()
    if kind == API:
        return client.open(path, method=method, headers={"Authorization": f"Bearer {token}"},
                           json=body if body is not None else ({} if method == "POST" else None))
    with client.session_transaction() as s:
        s["csrf"], s["agent_id"] = "csrf-token", agent_id
    data = {"csrf_token": "csrf-token", **(body or {})} if method == "POST" else None
    return client.open(path, method=method, data=data)


def shows(res, marker) -> bool:
    text = res.get_data(as_text=True)
    return bool(marker.search(text)) if isinstance(marker, re.Pattern) else marker in text


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize("method,rule", STAFF_ROUTES, ids=lambda v: v)
def test_another_lenders_data_is_a_404_or_absent(method, rule, settings, world, session):
    kind, allowed = ENDPOINTS[(method, rule)]
    entry = CROSS[(method, rule)]
    if entry.kind == "none":
        assert entry.reason
        return
    roles = [r for r in ROLE_ORDER if r in allowed]  # each of our roles allowed; the strongest for the controls
    role = roles[0]
    app, o = create_app(settings), world.other
    for path_of, body_of in entry.cases:
        path, body = path_of(o), body_of(o) if body_of else None
        for each in roles:
            mine = call(app, kind, method, path, body, world.ours[each])
            if entry.kind == "record":
                assert mine.status_code == 404, f"{each} of ours reached the other lender's record: {mine.status_code}"
            elif entry.kind == "effect":
                session.commit()  # a fresh snapshot: the app wrote in its own session
                assert mine.status_code < 500 and not entry.made(session, o), f"{each} of ours acted for them"
            else:
                assert mine.status_code < 500 and not shows(mine, entry.marker(o)), f"{each} of ours sees their rows"
        if entry.kind == "record":
            theirs = call(app, kind, method, path, body, world.theirs[role])
            assert theirs.status_code != 404, "the other lender's own staff must reach it (else this checks nothing)"
        elif entry.kind == "effect":
            call(app, kind, method, path, body, world.theirs[role])
            session.commit()  # a fresh snapshot: the app wrote in its own session
            assert entry.made(session, o), "the other lender's own staff do it (else this checks nothing)"
        else:
            marker = entry.marker(o)
            if entry.positive:
                assert shows(call(app, kind, method, path, body, world.theirs[role]), marker), \
                    "the other lender's staff must see their own rows (else this checks nothing)"
            if "platform" in allowed and entry.positive:
                assert shows(call(app, kind, method, path, body, world.ours["platform"]), marker), \
                    "the platform role sees every lender"
