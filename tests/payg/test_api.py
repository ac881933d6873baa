"""Staff API for PAYG devices: agents register devices, operators issue codes by hand; device
keys are encrypted at rest and never appear in logs or API responses."""
import logging

import pytest
from cryptography.fernet import Fernet
from openpaygo import TokenType
from sqlmodel import select

from gateway.models import Agent, AuditEvent, Device, FieldPartner, Message, PaygToken, Product
from gateway.payg import keys
from gateway.web.auth import issue_token
from tests.helpers import KeypadDevice, codes_in, pay, payg_loan, sms_for

KEY = "0123456789abcdef0123456789ABCDEF"
SOLAR = "solar home system"  # the demo catalogue's PAYG product


@pytest.fixture
def staff(factory, session):
    def make(role, partner=None):
        agent = Agent(name=f"{role} agent", phone=f"+2547990000{len(ROLES_MADE):02d}", role=role,
                      field_partner_id=(partner or factory.partner).id)
        ROLES_MADE.append(role)
        token = issue_token(agent)
        session.add(agent)
        session.commit()
        return {"Authorization": f"Bearer {token}"}
    ROLES_MADE = []
    return make


def _register(client, loan_id, headers, **overrides):
    body = dict(serial="shs-7781", secret_key=KEY, daily_rate="50", restricted_digits=False) | overrides
    return client.post(f"/api/agents/loans/{loan_id}/device", json=body, headers=headers)


def test_agent_registers_the_device_it_installs(client, factory, session, staff):
    loan = factory.loan(factory.borrower(language="en"), principal="18000", count=12, rate="0",
                        product=SOLAR, prefix="SOL")
    resp = _register(client, loan.id, staff("field"))
    assert resp.status_code == 201
    assert resp.get_json() == {"device": {
        "serial": "SHS-7781", "loan_id": loan.id, "account_ref": loan.account_ref, "daily_rate": "50.00",
        "currency": "KES", "restricted_digits": False, "token_count": 0, "days_credited": 0, "unlocked": False}}
    device = session.exec(select(Device)).one()
    assert device.daily_rate == 5000 and device.installed_by_agent_id is not None
    assert KEY.lower() not in device.secret_key_encrypted and keys.decrypt(device.secret_key_encrypted) == KEY.lower()
    sms = session.exec(select(Message).where(Message.template == "payg_device_registered")).one()
    assert sms.text == (f"Jirani Finance: solar system SHS-7781 installed. Pay to account {loan.account_ref}; "
                        "for each payment you get a code by SMS. To enter: press *, the code, then #.")
    # the device registered through the API takes the codes the payments send
    device_side = KeypadDevice(KEY.lower())
    code = codes_in(sms_for(session, pay(session, loan, 25000, "TXAPI1")).text)[0]
    assert device_side.enter(code) == (TokenType.ADD_TIME, 5)
    # one device per loan, one loan per device
    assert _register(client, loan.id, staff("admin"), serial="OTHER-1").status_code == 409
    other = factory.loan(factory.borrower(), product=SOLAR, prefix="SOL")
    again = _register(client, other.id, staff("field"))
    assert again.status_code == 409 and again.get_json()["error"] == "conflict"


def test_a_device_only_goes_with_a_loan_of_a_payg_product(client, factory, session, staff):
    business = factory.loan(factory.borrower(), prefix="BIZ")  # "business loan": not PAYG
    resp = _register(client, business.id, staff("field"))
    assert resp.status_code == 409
    assert resp.get_json() == {"error": "conflict", "detail": (
        f"loan {business.account_ref} is a 'business loan' loan, not of a PAYG product: no device goes with it")}
    assert session.exec(select(Device)).all() == []
    assert session.exec(select(Message).where(Message.template == "payg_device_registered")).all() == []
    # the rule is the product's: made PAYG, the same loan takes its device
    product = session.exec(select(Product).where(Product.code == "business loan")).one()
    product.payg = True
    session.add(product)
    session.commit()
    assert _register(client, business.id, staff("field")).status_code == 201


def test_agent_api_needs_a_field_or_admin_token(client, factory, staff):
    loan = factory.loan(factory.borrower(), product=SOLAR, prefix="SOL")
    assert _register(client, loan.id, {}).status_code == 401
    assert _register(client, loan.id, {"Authorization": "Bearer nope"}).status_code == 401
    resp = _register(client, loan.id, staff("callcentre"))
    assert resp.status_code == 403 and resp.get_json()["error"] == "forbidden"
    # another lender's agent cannot see the loan
    partner = FieldPartner(name="Other Solar", help_line="0800 000 111")
    factory.session.add(partner)
    factory.session.commit()
    assert _register(client, loan.id, staff("field", partner)).status_code == 404
    assert _register(client, 99999, staff("admin")).status_code == 404


@pytest.mark.parametrize("overrides, detail", [
    (dict(secret_key="0123456789abcdef"), "secret_key must be 32 hexadecimal characters"),
    (dict(secret_key=KEY + "00"), "secret_key must be 32 hexadecimal characters"),
    (dict(secret_key="g" * 32), "secret_key must be 32 hexadecimal characters"),
    (dict(secret_key=None), "secret_key must be 32 hexadecimal characters"),
    (dict(daily_rate=50.5), "daily_rate is required"),
    (dict(daily_rate="0"), "daily_rate must be a positive amount"),
    (dict(daily_rate="50.001"), "has more decimals than KES allows"),
    (dict(serial=""), "serial is required"),
    (dict(restricted_digits="yes"), "restricted_digits must be true or false"),
    (dict(starting_code="abc"), "starting_code must be a number"),
])
def test_bad_device_details_get_a_400_json_reply(client, factory, session, staff, overrides, detail):
    loan = factory.loan(factory.borrower(), product=SOLAR, prefix="SOL")
    resp = _register(client, loan.id, staff("field"), **overrides)
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "invalid" and detail in resp.get_json()["detail"]
    assert session.exec(select(Device)).all() == []


def test_not_json_gets_a_400(client, factory, staff):
    loan = factory.loan(factory.borrower(), product=SOLAR, prefix="SOL")
    resp = client.post(f"/api/agents/loans/{loan.id}/device", data="serial=1", headers=staff("field"))
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid"


def test_operator_gives_goodwill_days_with_a_reason_audited(client, factory, session, staff):
    borrower, loan, device = payg_loan(factory, language="sw")
    device.enter(codes_in(sms_for(session, pay(session, loan, 10000, "TXG1")).text)[0])
    manager = staff("manager")
    url = "/api/ops/devices/sol-0001/tokens"
    assert client.post(url, json=dict(days=3, reason="x")).status_code == 401
    assert client.post(url, json=dict(days=3, reason="x"), headers=staff("field")).status_code == 403
    missing = client.post(url, json=dict(days=3), headers=manager)
    assert missing.status_code == 400 and "reason is required" in missing.get_json()["detail"]
    assert client.post(url, json=dict(days=996, reason="x"), headers=manager).status_code == 400
    assert client.post(url, json=dict(kind="free", reason="x"), headers=manager).status_code == 400
    r = client.post("/api/ops/devices/NOPE/tokens", json=dict(days=3, reason="x"), headers=manager)
    assert r.status_code == 404

    resp = client.post(url, json=dict(days=3, reason="Panel stolen and replaced, 3 days lost"), headers=manager)
    assert resp.status_code == 201
    body = resp.get_json()["token"]
    assert (body["serial"], body["kind"], body["days"], body["count"]) == ("SOL-0001", "add_time", 3, 4)
    assert device.enter(body["code_grouped"]) == (TokenType.ADD_TIME, 3)
    sms = session.exec(select(Message).where(Message.template == "payg_manual")).one()
    assert sms.text == (f"Jirani Finance: huu ni msimbo wa mfumo wako wa sola: {body['code_grouped']}. "
                        "Unaongeza siku 3 za mwanga. Kuweka: bonyeza *, msimbo, kisha #.")
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "payg.token_add_time",
                                                  AuditEvent.actor.like("agent:%"))).one()
    assert event.data["reason"] == "Panel stolen and replaced, 3 days lost" and event.data["days"] == 3
    token = session.exec(select(PaygToken).where(PaygToken.count == 4)).one()
    assert token.payment_id is None and token.issued_by == event.actor

    session.commit()  # end the test's read: on SQLite it holds the write lock the API needs

    # a counter sync the device accepts, then an unlock; after that no more time codes
    sync = client.post(url, json=dict(kind="counter_sync", reason="device reset by technician"), headers=manager)
    assert device.enter(sync.get_json()["token"]["code"])[0] == TokenType.COUNTER_SYNC
    borrower.language = "en"
    session.add(borrower)
    session.commit()
    unlock = client.post(url, json=dict(kind="disable", reason="warranty replacement"), headers=manager)
    assert device.enter(unlock.get_json()["token"]["code"])[0] == TokenType.DISABLE_PAYG
    manual_en = select(Message).where(Message.template == "payg_manual", Message.language == "en")
    assert session.exec(manual_en).one().text == (
        f"Jirani Finance: here is a code for your solar system: {unlock.get_json()['token']['code_grouped']}. "
        "It unlocks your system for good. To enter: press *, the code, then #.")
    session.commit()
    late = client.post(url, json=dict(days=1, reason="x"), headers=manager)
    assert late.status_code == 409


def test_keys_never_appear_in_logs_or_api_replies(client, factory, session, staff, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # SQL and its parameters, too
    try:
        loan = factory.loan(factory.borrower(language="en"), principal="1000", count=1, rate="0",
                            product=SOLAR, prefix="SOL")
        replies = [_register(client, loan.id, staff("field"))]
        pay(session, loan, 5000, "TXK1")
        replies.append(client.post("/api/ops/devices/SHS-7781/tokens", json=dict(days=2, reason="goodwill"),
                                   headers=staff("admin")))
        replies.append(_register(client, loan.id, staff("field")))  # 409 mentions nothing secret either
        pay(session, loan, 95000, "TXK2")  # repaid: unlock code
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    assert "UPDATE device" in caplog.text  # the SQL log was captured, so the check below means something
    assert "PAYG_KEY_ENCRYPTION_KEY is not set" in caplog.text
    for secret in (KEY, KEY.lower(), KEY.upper()):
        assert secret not in caplog.text
        assert all(secret not in r.get_data(as_text=True) for r in replies)
        assert all(secret not in str(e.data) for e in session.exec(select(AuditEvent)))
        assert all(secret not in m.text for m in session.exec(select(Message)))


def test_key_encryption_key_from_the_environment_and_rotation(settings, monkeypatch):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv(keys.ENV_VAR, old)
    stored = keys.encrypt(KEY)
    assert keys.decrypt(stored) == KEY.lower()
    monkeypatch.setenv(keys.ENV_VAR, new)
    with pytest.raises(keys.DeviceKeyError):
        keys.decrypt(stored)
    monkeypatch.setenv(keys.ENV_VAR, f"{new},{old}")  # rotate: new key first, old still decrypts
    assert keys.decrypt(stored) == KEY.lower()
    assert Fernet(new.encode()).decrypt(keys.encrypt(KEY).encode()).decode() == KEY.lower()


def test_a_malformed_key_encryption_key_fails_loudly_without_echoing_it(settings, monkeypatch):
    monkeypatch.setenv(keys.ENV_VAR, "not-a-fernet-key")
    with pytest.raises(RuntimeError) as exc:
        keys.encrypt(KEY)
    assert "PAYG_KEY_ENCRYPTION_KEY must be Fernet keys" in str(exc.value) and "not-a-fernet-key" not in str(exc.value)
