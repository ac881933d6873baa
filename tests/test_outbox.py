"""Messages are stored before anything is queued, and queued only when the transaction commits."""
import datetime as dt

import pytest
from rq import Queue
from sqlmodel import select

from gateway.messaging import queue_sms, sms_encoding
from gateway.models import Message
from gateway.queue import get_redis


@pytest.fixture
def hello_template(tmp_path, monkeypatch):
    from gateway.messaging import compose
    (tmp_path / "hello.en.txt").write_text("Hello {{ name }}, you owe {{ money(amount, 'KES') }} by {{ date(day) }}.")
    (tmp_path / "hello.sw.txt").write_text(
        "Habari {{ name }}, deni lako ni {{ money(amount, 'KES') }} kufikia {{ date(day) }}.")
    monkeypatch.setattr(compose, "TEMPLATES", tmp_path)
    compose.template_env.cache_clear()
    yield
    compose.template_env.cache_clear()


def test_queue_sms_stores_then_enqueues_after_commit(factory, session, hello_template):
    b = factory.borrower(language="sw")
    q = Queue("default", connection=get_redis())
    m = queue_sms(session, b, "hello", kind="reminder", dedupe_key="k1", name="Amina", amount=125000,
                  day=dt.date(2026, 12, 12))
    assert m.text == "Habari Amina, deni lako ni Ksh 1,250 kufikia 12 Des 2026."
    assert (m.encoding, m.segments) == ("GSM-7", 1)
    assert q.count == 0  # nothing queued before commit
    session.commit()
    assert q.count == 1 and q.jobs[0].args == (m.id,)
    # same dedupe key: the first message, no second send
    again = queue_sms(session, b, "hello", kind="reminder", dedupe_key="k1", name="Amina", amount=1,
                      day=dt.date(2026, 1, 1))
    session.commit()
    assert again.id == m.id and q.count == 1


def test_rolled_back_message_is_never_queued(factory, session, hello_template):
    b = factory.borrower(language="en")
    queue_sms(session, b, "hello", kind="reminder", name="A", amount=1, day=dt.date(2026, 1, 1))
    session.rollback()
    assert Queue("default", connection=get_redis()).count == 0
    assert session.exec(select(Message)).all() == []


def test_encoding_and_segments():
    assert sms_encoding("a" * 160) == ("GSM-7", 1)
    assert sms_encoding("a" * 161) == ("GSM-7", 2)
    assert sms_encoding("{" * 80) == ("GSM-7", 1)
    assert sms_encoding("{" * 81) == ("GSM-7", 2)
    assert sms_encoding("Karibu \u2019") == ("UCS-2", 1)
    assert sms_encoding("\u2019" * 71) == ("UCS-2", 2)
