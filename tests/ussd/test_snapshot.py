"""A USSD session reads the database on its first hop only; later hops use its snapshot in Redis."""
import dataclasses
import datetime as dt
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlmodel import select

from gateway.app import create_app
from gateway.db import engine_for
from gateway.models import AuditEvent
from gateway.ussd import snapshot
from tests.helpers import dial, pay, payg_loan

pytestmark = pytest.mark.usefixtures("frozen_clock")  # NOW, 12:00 in Nairobi


@contextmanager
def statements(settings):
    seen = []
    engine = engine_for(settings.database_url)
    def listener(_conn, _cursor, sql, *_):
        if not sql.startswith("BEGIN"):  # SQLite's explicit BEGIN IMMEDIATE is not a query
            seen.append(sql)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def test_later_hops_of_a_session_answer_without_the_database(client, settings, john):
    with statements(settings) as first:
        assert dial(client, john[0].phone, "", session_id="S1").startswith("CON Hello John.")
    with statements(settings) as later:
        assert dial(client, john[0].phone, "1", session_id="S1") == (
            f"CON Loan {john[1].account_ref}\nBalance: Ksh4,800\nIn arrears: Ksh1,200\n0 Menu 00 Back")
        assert dial(client, john[0].phone, "1*0*2", session_id="S1") == (
            "CON Overdue since 1 Nov 2026: Ksh1,200. Please pay now.\nNext payment: Ksh1,200 due on 1 Dec 2026.\n"
            "0 Menu 00 Back")
    assert len(first) == 1 and later == []


def test_a_session_keeps_its_balance_and_a_new_session_sees_the_payment(client, session, john):
    dial(client, john[0].phone, "", session_id="S1")
    pay(session, john[1], 120_000, "RKT0000001")  # the arrears, paid while the menu is open
    assert "In arrears: Ksh1,200" in dial(client, john[0].phone, "1", session_id="S1")
    assert dial(client, john[0].phone, "1", session_id="S2") == (
        f"CON Loan {john[1].account_ref}\nBalance: Ksh3,600\n0 Menu 00 Back")


def test_a_snapshot_is_only_used_by_the_caller_who_made_it(client, factory, john):
    other = factory.borrower("Amina Wanjiru", "+254712345678", language="sw")
    factory.loan(other, principal="4000", count=4, first_due=dt.date(2026, 12, 1))
    dial(client, john[0].phone, "", session_id="S1")
    assert dial(client, other.phone, "1", session_id="S1").startswith("CON Mkopo ")


def test_a_language_change_holds_for_the_rest_of_the_session(client, session, john):
    dial(client, john[0].phone, "", session_id="S1")
    assert dial(client, john[0].phone, "5*4", session_id="S1").startswith("CON Habari John.")
    assert dial(client, john[0].phone, "5*4*1", session_id="S1").startswith(f"CON Mkopo {john[1].account_ref}\nSalio:")
    session.refresh(john[0])
    assert john[0].language == "sw"
    dial(client, john[0].phone, "5*4*5*4", session_id="S1")  # Kiswahili chosen again, same session
    changes = session.exec(select(AuditEvent).where(AuditEvent.action == "borrower.language_changed")).all()
    assert [(e.data["old"], e.data["new"]) for e in changes] == [("en", "sw")]


def test_the_snapshot_round_trips_loans_and_devices(session, factory):
    borrower, loan, _ = payg_loan(factory)
    factory.loan(borrower, principal="2000", count=2)
    pay(session, loan, 500_000, "RKT0000002")
    [snap] = snapshot.read(session, borrower.phone)
    assert len(snap.loans) == 2 and snap.loans[0].device is not None and snap.loans[0].credit == 0
    assert snap.lender.name == "Jirani Finance" and not snap.lender.named  # the only lender
    assert snapshot._load(snapshot._dump("*384*1#", (snap,))) == ("*384*1#", (snap,))


def test_ussd_answers_from_the_database_when_redis_is_down(settings, john):
    client = create_app(dataclasses.replace(settings, redis_url="redis://127.0.0.1:1/0")).test_client()
    assert dial(client, john[0].phone, "", session_id="S1").startswith("CON Hello John.")
    assert "Balance: Ksh4,800" in dial(client, john[0].phone, "1", session_id="S1")


def test_no_snapshot_when_switched_off(settings, john):
    client = create_app(dataclasses.replace(settings, ussd_snapshot_ttl=0)).test_client()
    dial(client, john[0].phone, "", session_id="S1")
    with statements(settings) as seen:
        dial(client, john[0].phone, "1", session_id="S1")
    assert len(seen) == 1
