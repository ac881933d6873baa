"""Every USSD screen a borrower can reach fits one USSD screen in every language, paged with
"98 More" instead of being cut; what a late borrower is told and asked to pay; "Call me back" is
key 8 and asks first; "My last code" texts the code at most once per PAYG_CODE_RESEND_MINUTES."""
import datetime as dt

import pytest
import time_machine
from sqlmodel import select

from gateway.i18n import languages
from gateway.models import Message
from gateway.payg import service
from gateway.payg.demo import add_demo_device
from gateway.ussd import engine
from tests.helpers import dial, pay

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)  # 12:00 in Nairobi
KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "x", "98", "00", "0", "500"]


@pytest.fixture
def settings(settings, monkeypatch):
    # The walk dials hundreds of screens from a few phones in a minute: the per-phone limit is not tested here.
    monkeypatch.setenv("RATE_LIMITS_ENABLED", "0")
    return settings.with_(rate_limits_enabled=False)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def borrower_kinds(factory, session, lang):
    """Demo-like borrowers: business and solar, current and in arrears (one with a payment due
    today), one with several loans; long names and account numbers as in the demo."""
    phones = {}

    def make(kind, product, prefix, first_due, solar=False, loans=1):
        b = factory.borrower(f"Wanjiku{kind.capitalize()} Njeri-Kamau", language=lang)
        for n in range(loans):
            loan = factory.loan(b, principal="180000", count=12, first_due=first_due, product=product,
                                prefix=prefix)
            if solar:
                add_demo_device(session, loan, f"SOL-{lang}-{kind}-{n}", daily_rate="50")
                session.commit()
                pay(session, loan, 5000, f"T-{lang}-{kind}-{n}")
        phones[kind] = b.phone

    make("business", "business loan", "BIZ", dt.date(2026, 12, 1))
    make("businesslate", "business loan", "BIZ", dt.date(2026, 8, 20))  # also due today (20 Nov)
    make("solar", "solar home system", "SOL", dt.date(2026, 12, 1), solar=True)
    make("solarlate", "solar home system", "SOL", dt.date(2026, 9, 1), solar=True)
    make("several", "solar home system", "SOL", dt.date(2026, 9, 1), solar=True, loans=2)
    return phones


def pages_of(client, phone, path, session_id):
    """The screen at `path` and the pages after it ("98"), as the borrower would page through."""
    pages = [dial(client, phone, path, session_id)]
    while "\n98 " in pages[-1] and len(pages) < 6:
        path = f"{path}*98" if path else "98"
        pages.append(dial(client, phone, path, session_id))
    return pages


def words(pages):
    """The screen's words, leaving out the paging and footer lines."""
    lines = [line for p in pages for line in p[4:].split("\n") if not line.startswith(("98 ", "0 Men"))]
    return " ".join(lines).split()


@pytest.mark.parametrize("lang", languages())
def test_every_screen_fits_and_is_paged_never_cut(client, factory, session, lang, monkeypatch, settings):
    # "My last code" may text the code on every press here, so the screen compared is the same
    client.application.config["GATEWAY"] = settings.with_(payg_code_resend_minutes=0)
    phones = borrower_kinds(factory, session, lang)
    paths = [""] + KEYS + [f"{a}*{b}" for a in KEYS for b in ("1", "x", "2")]
    for kind, phone in phones.items():
        for n, path in enumerate(paths):
            sid = f"S-{lang}-{kind}-{n}"
            pages = pages_of(client, phone, path, sid)
            for page in pages:
                assert len(page) <= engine.MAX_SCREEN, (kind, path, page)
            with monkeypatch.context() as m:  # the same screen with no size limit: the same words, none cut
                m.setattr(engine, "MAX_SCREEN", 10_000)
                whole = dial(client, phone, path, sid + "-whole")
            assert words(pages) == words([whole]), (kind, path, pages, whole)


def test_kiswahili_main_menu_of_a_late_solar_borrower_after_an_invalid_choice_is_paged(client, factory, session):
    phones = borrower_kinds(factory, session, "sw")
    first = dial(client, phones["solarlate"], "x", "S1")
    assert first.startswith("CON Chaguo si sahihi. Jaribu tena.\nHabari WanjikuSolarlate.")
    assert first.endswith("\n98 Zaidi") and len(first) <= 182
    second = dial(client, phones["solarlate"], "x*98", "S1")
    assert "8 Nipigie simu" in second and len(second) <= 182
    # every option of the menu is on one of the pages, whole
    options = [line for p in (first, second) for line in p[4:].split("\n") if line[:1].isdigit()]
    assert [o.split()[0] for o in options if not o.startswith("98 ")] == ["1", "2", "3", "4", "5", "6", "7", "8"]


def test_next_payment_of_a_late_loan_says_overdue_since_and_the_next_future_date(client, factory, session):
    b = factory.borrower("John Otieno", language="en")
    factory.loan(b, principal="4000", count=4, rate="0.05", first_due=dt.date(2026, 10, 1))
    assert dial(client, b.phone, "2") == (
        "CON Overdue since 1 Oct 2026: Ksh2,400. Please pay now.\nNext payment: Ksh1,200 due on 1 Dec 2026.\n"
        "0 Menu 00 Back")
    sw = factory.borrower("Amina Wanjiru", language="sw")
    factory.loan(sw, principal="4000", count=4, rate="0.05", first_due=dt.date(2026, 10, 1))
    assert dial(client, sw.phone, "2") == (
        "CON Imechelewa tangu 1 Okt 2026: Ksh 2,400. Tafadhali lipa sasa.\n"
        "Malipo yajayo: Ksh 1,200 kufikia 1 Des 2026.\n0 Menyu 00 Rudi")


def test_pay_now_for_a_late_borrower_includes_what_is_due_today(client, factory, session):
    b = factory.borrower("John Otieno", language="en")
    factory.loan(b, principal="4000", count=4, rate="0.05", first_due=dt.date(2026, 10, 20))  # 20 Oct, 20 Nov...
    # 1,200 late since 20 Oct and 1,200 due today (20 Nov): the suggestion is both
    assert dial(client, b.phone, "3") == "CON Pay now\n1 Pay Ksh2,400\n2 Other amount\n0 Menu 00 Back"


def test_call_me_back_is_key_8_and_asks_first(client, factory, session):
    b = factory.borrower("John Otieno", language="en")
    factory.loan(b)
    assert "8 Call me back" in dial(client, b.phone) and "0 Call me back" not in dial(client, b.phone)
    assert dial(client, b.phone, "8") == (
        "CON Do you want us to call you back?\n1 Yes, call me\n2 Cancel\n0 Menu 00 Back")
    assert dial(client, b.phone, "8*2").startswith("CON Hello John.")  # cancelled: back to the menu
    assert dial(client, b.phone, "8*0").startswith("CON Hello John.")  # 0 is "Menu" here too
    assert dial(client, b.phone, "8*1") == "END Thank you. We will call you back within one working day."


def test_my_last_code_texts_it_at_most_once_per_period(client, factory, session, settings):
    client.application.config["GATEWAY"] = settings.with_(payg_code_resend_minutes=30)  # PAYG_CODE_RESEND_MINUTES
    b = factory.borrower("Grace Akinyi", language="en")
    loan = factory.loan(b, principal="18000", count=12, rate="0", product="solar home system", prefix="SOL")
    add_demo_device(session, loan, "SOL-9", daily_rate="50")
    session.commit()
    pay(session, loan, 10000, "TXC1")
    code = service.group_code(service.last_code(session, loan).token)
    phone = b.phone
    session.rollback()
    screens = [dial(client, phone, "7", f"S{k}") for k in range(5)]  # five sessions in a row
    assert screens[0] == f"CON Your last code: {code}\nWe have sent it to you by SMS too.\n0 Menu 00 Back"
    assert screens[1:] == [f"CON Your last code: {code}\nSent by SMS at 12:00. One SMS every 30 min.\n"
                           "0 Menu 00 Back"] * 4
    with time_machine.travel(NOW + dt.timedelta(minutes=31), tick=False):
        assert dial(client, phone, "7", "S9").endswith("We have sent it to you by SMS too.\n0 Menu 00 Back")
    sent = session.exec(select(Message).where(Message.template == "payg_last_code")).all()
    assert len(sent) == 2
