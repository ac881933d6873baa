"""Who may call what: every route the app serves is in ONE table below, with who may call it, and
each is checked the way that kind of caller is authenticated.

- public: answered without any credential (health, the console's login page, static files, the
  voice prompts AT fetches, the OpenAPI document).
- provider: a callback only the provider may send: refused (403) without its secret token
  (`X-Callback-Token` or `?token=`) or from outside its allowlist, and when neither is configured;
  past the check, the empty body sent here gets exactly its 400 (a 500 would not pass).
- borrower: a borrower's channel, reached through Africa's Talking (USSD, inbound SMS): the same
  refusal as AT's other callbacks; with AT's token it needs no staff credential.
- api: staff JSON API: 401 without a token, 401 with a bad one (or an inactive agent's), 403 with
  a valid token of a role not allowed; each allowed role gets past the check.
- console: staff pages: not logged in (or a session cookie we did not sign) goes to the login
  page, a role not allowed gets 403; each allowed role gets past the check.

A route the table does not list fails its own test: nobody adds an endpoint without saying who
may call it; tests/web/test_cross_lender.py checks each staff route against another lender's data.
Path parameters are dummy values (ints for ids): the checks come before any lookup.
"""
from __future__ import annotations

import re
import tempfile
from functools import cache

import pytest
from werkzeug.security import generate_password_hash

from gateway.app import create_app
from gateway.config import Settings
from gateway.messaging.voice_callbacks import callback_url
from gateway.models import Agent
from gateway.web.auth import issue_token

PUBLIC, PROVIDER, BORROWER, API, CONSOLE = "public", "provider", "borrower", "api", "console"
F, C, M, A, P = "field", "callcentre", "manager", "admin", "platform"
ROLES = (F, C, M, A)  # a lender's staff
EVERY_ROLE = (*ROLES, P)  # every role is checked against every staff route
MANAGERS = (M, A)
ADMINS = (A, P)
CALLERS = (C, M, A)
OVERSEERS = (M, A, P)  # dashboards, PAR, reports, suspense: the platform role across lenders

# (method, rule) -> (kind, detail). detail: public -> (expected status, concrete path or None);
# provider/borrower -> which provider's secret ("mpesa", "africastalking" payments, "at" for AT's
# USSD/SMS/voice callbacks); api/console -> the roles allowed.
ENDPOINTS = {
    ("GET", "/health"): (PUBLIC, (200, None)),
    # Being added on another branch (a static OpenAPI document); public, checked once it exists.
    ("GET", "/openapi.json"): (PUBLIC, (200, None)),
    ("GET", "/static/<path:filename>"): (PUBLIC, (404, "/static/nothing-here.txt")),  # Flask's; we ship none
    ("GET", "/ops/static/<path:filename>"): (PUBLIC, (200, "/ops/static/ops.css")),
    ("GET", "/ops/login"): (PUBLIC, (200, None)),
    ("POST", "/ops/login"): (PUBLIC, (401, None)),  # the form's own answer to a wrong password
    ("POST", "/ops/logout"): (PUBLIC, (302, None)),
    ("GET", "/voice/audio/<lang>/<name>.wav"): (PUBLIC, (200, "/voice/audio/sw/welcome.wav")),  # same for all
    **{("POST", f"/payments/{prefix}/{kind}"): (PROVIDER, "mpesa") for prefix in ("mpesa", "daraja")
       for kind in ("c2b/validation", "c2b/confirmation", "stk/callback", "reversal/result")},
    ("POST", "/payments/africastalking/notification"): (PROVIDER, "africastalking"),
    ("POST", "/sms/delivery-report"): (PROVIDER, "at"),
    ("POST", "/sms/opt-out"): (PROVIDER, "at"),
    ("POST", "/voice/welcome"): (PROVIDER, "at"),
    ("POST", "/ussd"): (BORROWER, "at"),
    ("POST", "/sms/inbound"): (BORROWER, "at"),
    ("POST", "/api/agents/borrowers"): (API, (F, A)),
    ("POST", "/api/agents/borrowers/<id:borrower_id>/welcome"): (API, (F, A)),
    ("POST", "/api/agents/loans/<id:loan_id>/device"): (API, (F, A)),
    ("POST", "/api/ops/devices/<serial>/tokens"): (API, MANAGERS),
    ("GET", "/api/ops/commissions"): (API, EVERY_ROLE),  # non-managers see only their own
    ("GET", "/api/ops/commissions/statements"): (API, EVERY_ROLE),  # non-managers see only their own
    ("POST", "/api/ops/commissions/statements/generate"): (API, MANAGERS),
    ("POST", "/api/ops/commissions/statements/<id:statement_id>/approve"): (API, MANAGERS),
    ("POST", "/api/ops/commissions/statements/<id:statement_id>/return"): (API, MANAGERS),
    ("POST", "/api/ops/commissions/payouts"): (API, MANAGERS),
    ("GET", "/api/ops/commissions/payouts/<batch>"): (API, MANAGERS),
    ("GET", "/api/ops/flags"): (API, (*CALLERS, P)),
    ("POST", "/api/ops/flags/<id:flag_id>/resolve"): (API, MANAGERS),
    ("POST", "/api/ops/flags/scan"): (API, MANAGERS),
    ("GET", "/api/ops/messages/unknown"): (API, MANAGERS),
    ("POST", "/api/ops/messages/<id:message_id>/resend"): (API, MANAGERS),
    ("GET", "/api/ops/loans/<id:loan_id>/arrears"): (API, EVERY_ROLE),
    ("POST", "/api/ops/loans/<id:loan_id>/calls"): (API, CALLERS),
    ("POST", "/api/ops/callbacks/<id:request_id>/outcome"): (API, CALLERS),
    ("GET", "/api/ops/loans/<id:loan_id>/open-promise"): (API, ROLES),
    ("POST", "/api/ops/loans/<id:loan_id>/restructure"): (API, MANAGERS),
    ("POST", "/api/ops/loans/<id:loan_id>/write-off"): (API, MANAGERS),
    ("GET", "/api/ops/portfolio"): (API, OVERSEERS),
    ("GET", "/api/ops/queue"): (API, CALLERS),  # call-centre agents see their own
    ("POST", "/api/ops/queue/assign"): (API, MANAGERS),
    ("GET", "/api/ops/team"): (API, CALLERS),
    ("GET", "/api/payments/suspense"): (API, OVERSEERS),
    ("POST", "/api/payments/<id:payment_id>/assign"): (API, OVERSEERS),
    ("POST", "/api/payments/<id:payment_id>/refund"): (API, OVERSEERS),
    ("POST", "/api/payments/<id:payment_id>/reverse"): (API, MANAGERS),
    ("GET", "/api/payments/callbacks"): (API, OVERSEERS),
    ("POST", "/api/payments/callbacks/<id:raw_id>/retry"): (API, OVERSEERS),
    ("GET", "/ops/"): (CONSOLE, EVERY_ROLE),  # sends each role to its own start page
    ("GET", "/ops/lenders"): (CONSOLE, (P,)),
    ("POST", "/ops/lenders"): (CONSOLE, (P,)),
    ("GET", "/ops/lenders/<id:partner_id>"): (CONSOLE, ADMINS),  # another lender's: 404
    ("POST", "/ops/lenders/<id:partner_id>"): (CONSOLE, ADMINS),
    ("POST", "/ops/lenders/<id:partner_id>/codes"): (CONSOLE, ADMINS),
    ("POST", "/ops/lenders/<id:partner_id>/codes/<id:code_id>/remove"): (CONSOLE, ADMINS),
    ("GET", "/ops/lenders/<id:partner_id>/staff"): (CONSOLE, ADMINS),
    ("POST", "/ops/lenders/<id:partner_id>/staff"): (CONSOLE, ADMINS),
    ("POST", "/ops/lenders/<id:partner_id>/staff/<id:agent_id>/token"): (CONSOLE, ADMINS),
    ("POST", "/ops/lenders/<id:partner_id>/staff/<id:agent_id>/disable"): (CONSOLE, ADMINS),
    ("GET", "/ops/commissions"): (CONSOLE, EVERY_ROLE),  # non-managers see only their own
    ("GET", "/ops/dashboard"): (CONSOLE, OVERSEERS),
    ("GET", "/ops/flags"): (CONSOLE, OVERSEERS),
    ("POST", "/ops/flags/<id:flag_id>/resolve"): (CONSOLE, MANAGERS),
    ("POST", "/ops/flags/scan"): (CONSOLE, MANAGERS),
    ("GET", "/ops/loans/<id:loan_id>"): (CONSOLE, EVERY_ROLE),
    ("POST", "/ops/loans/<id:loan_id>/calls"): (CONSOLE, CALLERS),
    ("POST", "/ops/loans/<id:loan_id>/restructure"): (CONSOLE, MANAGERS),
    ("POST", "/ops/loans/<id:loan_id>/write-off"): (CONSOLE, MANAGERS),
    ("GET", "/ops/pursuit"): (CONSOLE, MANAGERS),
    ("POST", "/ops/pursuit/<id:stop_id>/decide"): (CONSOLE, MANAGERS),
    ("GET", "/ops/products"): (CONSOLE, ADMINS),  # a lender's admins (and the platform role): its products
    ("POST", "/ops/products"): (CONSOLE, ADMINS),
    ("GET", "/ops/products/<id:product_id>"): (CONSOLE, ADMINS),
    ("POST", "/ops/products/<id:product_id>"): (CONSOLE, ADMINS),
    ("GET", "/ops/queue"): (CONSOLE, CALLERS),
    ("POST", "/ops/queue/assign"): (CONSOLE, MANAGERS),
    ("POST", "/ops/queue/callbacks/<id:request_id>"): (CONSOLE, CALLERS),
    ("GET", "/ops/reports"): (CONSOLE, EVERY_ROLE),
    ("GET", "/ops/reports/<name>.<fmt>"): (CONSOLE, EVERY_ROLE),  # non-managers: only their commissions report
    ("GET", "/ops/spot-checks"): (CONSOLE, CALLERS),  # callers see the calls to make; managers also draw
    ("POST", "/ops/spot-checks/draw"): (CONSOLE, MANAGERS),
    ("GET", "/ops/spot-checks/<id:check_id>"): (CONSOLE, MANAGERS),
    ("GET", "/ops/spot-checks/<id:check_id>/report.<fmt>"): (CONSOLE, MANAGERS),
    ("POST", "/ops/spot-checks/calls/<id:call_id>"): (CONSOLE, CALLERS),
    ("GET", "/ops/statements"): (CONSOLE, EVERY_ROLE),  # non-managers see only their own
    ("POST", "/ops/statements/generate"): (CONSOLE, MANAGERS),
    ("POST", "/ops/statements/<id:statement_id>/decide"): (CONSOLE, MANAGERS),
    ("POST", "/ops/statements/payout"): (CONSOLE, MANAGERS),
    ("GET", "/ops/webhooks"): (CONSOLE, MANAGERS),
    ("POST", "/ops/webhooks/<id:endpoint_id>/test"): (CONSOLE, MANAGERS),
    ("GET", "/ops/messages/unknown"): (CONSOLE, MANAGERS),
    ("POST", "/ops/messages/<id:message_id>/resend"): (CONSOLE, MANAGERS),
    ("GET", "/ops/suspense"): (CONSOLE, OVERSEERS),
    ("POST", "/ops/suspense/<id:payment_id>/refund"): (CONSOLE, OVERSEERS),
    ("POST", "/ops/suspense/<id:payment_id>/resolve"): (CONSOLE, OVERSEERS),
}


def served_routes() -> set[tuple[str, str]]:
    """(method, rule) of every route, from the app's url_map (built here with no database or Redis)."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(redis_url="memory://", instance_path=tmp, database_url=f"sqlite:///{tmp}/none.db",
                                    demo_mode=True))
    return {(method, rule.rule) for rule in app.url_map.iter_rules()
            for method in rule.methods - {"HEAD", "OPTIONS"}}


SERVED = served_routes()


def test_every_served_route_is_in_the_table_and_the_table_names_only_served_routes():
    assert sorted(SERVED - ENDPOINTS.keys()) == [], "add these routes to ENDPOINTS, saying who may call them"
    assert sorted(ENDPOINTS.keys() - SERVED) == [], "these routes are gone: remove them"


def concrete(rule: str) -> str:
    """A path for the rule: dummy ints for int parameters, a dummy word for the others."""
    return re.sub(r"<(?:(\w+)(?:\([^>]*\))?:)?\w+>", lambda m: "1" if m.group(1) in ("int", "id") else "x", rule)


@cache
def password_hash() -> str:  # hashing is slow on purpose: once for the whole module
    return generate_password_hash("a-long-enough-password")


@pytest.fixture
def agents(session, factory) -> dict[str, dict[str, str]]:
    """Active staff of every role (API tokens, console passwords) and an inactive admin."""
    made = {}
    for k, role in enumerate(EVERY_ROLE + ("inactive",)):
        agent = Agent(name=f"Staff {role}", phone=f"+25470000090{k}", role=role if role in EVERY_ROLE else A,
                      field_partner_id=factory.partner.id, active=role in EVERY_ROLE, password_hash=password_hash())
        made[role] = (agent, issue_token(agent))
        session.add(agent)
    session.commit()
    return {role: {"id": agent.id, "token": token} for role, (agent, token) in made.items()}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def check_api(app, method, path, roles, agents):
    client = app.test_client()
    assert client.open(path, method=method).status_code == 401, "no token"
    assert client.open(path, method=method, headers=bearer("not-a-token")).status_code == 401, "bad token"
    assert client.open(path, method=method, headers={"Authorization": agents[A]["token"]}).status_code == 401, \
        "token without the Bearer scheme"
    assert client.open(path, method=method, headers=bearer(agents["inactive"]["token"])).status_code == 401, \
        "an inactive agent's token"
    for role in EVERY_ROLE:
        status = client.open(path, method=method, headers=bearer(agents[role]["token"]), json={}).status_code
        if role in roles:
            assert status not in (401, 403), f"{role} is allowed but got {status}"
        else:
            assert status == 403, f"{role} is not allowed but got {status}"


def console_client(app, agent_id=None):
    """A browser: a session with a CSRF token (as every page we serve gives), logged in as `agent_id`."""
    client = app.test_client()
    with client.session_transaction() as s:
        s["csrf"] = "csrf-token"
        if agent_id is not None:
            s["agent_id"] = agent_id
    return client


def console_request(client, method, path):
    return client.open(path, method=method, data={"csrf_token": "csrf-token"} if method == "POST" else None)


def check_console(app, settings, method, path, roles, agents):
    def sent_to_login(res):
        return res.status_code == 302 and res.location.startswith("/ops/login")

    def treated_as_anonymous(res):  # a POST also loses the session's CSRF token: refused before the login check
        return sent_to_login(res) or (method == "POST" and res.status_code == 400)

    assert sent_to_login(console_request(console_client(app), method, path)), "not logged in"
    # a session cookie signed with another key (forged, or from before a key change) counts for nothing
    forger = console_client(create_app(settings.with_(secret_key="not-our-key")), agents[A]["id"])
    client = app.test_client()
    client.set_cookie("session", forger.get_cookie("session").value)
    assert treated_as_anonymous(console_request(client, method, path)), "forged session"
    assert treated_as_anonymous(console_request(console_client(app, agents["inactive"]["id"]), method, path)), \
        "an inactive agent's session"
    for role in EVERY_ROLE:
        res = console_request(console_client(app, agents[role]["id"]), method, path)
        if role in roles:
            assert res.status_code not in (401, 403) and not sent_to_login(res), f"{role} is allowed: {res.status_code}"
        else:
            assert res.status_code == 403, f"{role} is not allowed but got {res.status_code}"


SECRETS = {"mpesa": ("mpesa_callback_token", "mpesa_allowed_ips"),
           "africastalking": ("at_payments_callback_token", "at_payments_allowed_ips"),
           "at": ("at_callback_token", "at_allowed_ips")}
PROVIDER_IP, OTHER_IP = "196.201.214.200", "41.90.1.2"


def provider_app(settings, token="", allowed=()):
    """Every provider configured alike: `token` and/or `allowed` IPs (neither: fail closed)."""
    changes = {}
    for token_field, ips_field in SECRETS.values():
        changes.update({token_field: token, ips_field: tuple(allowed)})
    return create_app(settings.with_(**changes))


def check_provider(settings, method, path):
    def status(app, headers=None, query="", ip="127.0.0.1"):
        return app.test_client().open(path + query, method=method, headers=headers or {},
                                      environ_base={"REMOTE_ADDR": ip}).status_code

    past_the_check = 400  # the empty body: a clear 4xx, never a 500
    assert status(provider_app(settings)) == 403, "nothing configured: refused (fail closed)"
    with_token = provider_app(settings, token="the-token")
    assert status(with_token) == 403, "no token"
    assert status(with_token, {"X-Callback-Token": "wrong"}) == 403, "wrong token"
    assert status(with_token, query="?token=wrong") == 403, "wrong ?token="
    assert status(with_token, {"X-Callback-Token": "the-token"}) == past_the_check, "the token"
    assert status(with_token, query="?token=the-token") == past_the_check, "the token in the URL"
    listed = provider_app(settings, allowed=["196.201.214.0/24"])
    assert status(listed, ip=OTHER_IP) == 403, "an address outside the allowlist"
    assert status(listed, ip=PROVIDER_IP) == past_the_check, "an allowlisted address"
    both = provider_app(settings, token="the-token", allowed=["196.201.214.0/24"])
    assert status(both, {"X-Callback-Token": "the-token"}, ip=OTHER_IP) == 403, "the token from outside the allowlist"
    assert status(both, {"X-Callback-Token": "wrong"}, ip=PROVIDER_IP) == 403, "an allowlisted address, wrong token"
    assert status(both, {"X-Callback-Token": "the-token"}, ip=PROVIDER_IP) == past_the_check, "token and address"


def check_borrower_channel(settings, agents, path):
    """Reached through AT: AT's token, never a staff credential; a number we do not know learns nothing."""
    check_provider(settings, "POST", path)
    client = provider_app(settings, token="the-token").test_client()
    staff_only = client.post(path, headers=bearer(agents[A]["token"]),
                             data={"sessionId": "ATUid_1", "phoneNumber": "+254799000001", "text": "1"})
    assert staff_only.status_code == 403, "a staff token is not AT's token"
    if path == "/ussd":
        res = client.post(path, query_string={"token": "the-token"},
                          data={"sessionId": "ATUid_1", "phoneNumber": "+254799000001", "text": "1"})
        assert res.status_code == 200 and res.get_data(as_text=True).startswith("END ")
        assert "not registered" in res.get_data(as_text=True)
    else:
        res = client.post(path, query_string={"token": "the-token"},
                          data={"from": "+254799000001", "to": "22384", "text": "SALIO", "id": "ATXid_in_1",
                                "date": "2026-11-20 12:00:00"})
        assert res.status_code == 200


@pytest.mark.parametrize("method,rule", sorted(ENDPOINTS.keys() | SERVED), ids=lambda v: v)
def test_endpoint_is_protected_as_the_table_says(method, rule, settings, agents):
    assert (method, rule) in ENDPOINTS, f"{method} {rule} is not in ENDPOINTS: say who may call it"
    assert (method, rule) in SERVED, f"{method} {rule} is not served: remove it from ENDPOINTS"
    kind, detail = ENDPOINTS[(method, rule)]
    app = create_app(settings)
    if kind == PUBLIC:
        expected, path = detail
        client = console_client(app)  # no credential; a CSRF token as the login page gives one
        assert console_request(client, method, path or concrete(rule)).status_code == expected
    elif kind == PROVIDER:
        check_provider(settings, method, concrete(rule))
    elif kind == BORROWER:
        check_borrower_channel(settings, agents, concrete(rule))
    elif kind == API:
        check_api(app, method, concrete(rule), detail, agents)
    else:
        check_console(app, settings, method, concrete(rule), detail, agents)


def test_the_voice_call_tells_at_to_come_back_with_the_token(settings):
    url = callback_url(settings.with_(at_callback_token="t&k=1", public_base_url="https://gw.example"))
    assert url == "https://gw.example/voice/welcome?token=t%26k%3D1"
    assert callback_url(settings.with_(at_callback_token="", public_base_url="https://gw.example")) == \
        "https://gw.example/voice/welcome"
    app = create_app(settings.with_(at_callback_token="t&k=1", at_allowed_ips=()))
    res = app.test_client().post(url.removeprefix("https://gw.example"), data={"isActive": "1"})
    assert res.status_code == 400 and res.get_json()["detail"] == "sessionId is required"  # past the check
