"""Issue 12 item 3: Safaricom masks the payer of a C2B confirmation ('2547 ***** 542'); a mask
whose visible digits fit the borrower's number is not "paid from another number"."""
import datetime as dt

import pytest
from sqlmodel import select

from gateway import ledger
from gateway.models import Flag, Payment
from gateway.ops import flags


def pay(session, loan, payer, txn):
    p = Payment(provider="mpesa", provider_txn_id=txn, amount=10000, currency="KES", payer_phone=payer)
    session.add(p)
    session.flush()
    ledger.post_payment(session, p, loan.id)
    session.commit()
    return p


@pytest.mark.parametrize("payer", ["2547 ***** 542", "2547*****542", "254712***542", "0712***542", "254712345542"])
def test_a_masked_payer_whose_visible_digits_fit_raises_no_flag(factory, session, settings, payer):
    loan = factory.loan(factory.borrower(phone="+254712345542"), first_due=dt.date(2027, 1, 1))
    pay(session, loan, payer, "QX1")
    assert flags.scan(session, dt.date(2026, 12, 1), settings) == []
    assert session.exec(select(Flag)).all() == []


@pytest.mark.parametrize("payer,shown", [("2547 ***** 999", "2547*****999"), ("2541 ***** 542", "2541*****542"),
                                         ("0799111222", "+254799***222")])
def test_a_clear_mismatch_is_still_flagged(factory, session, settings, payer, shown):
    loan = factory.loan(factory.borrower(phone="+254712345542"), first_due=dt.date(2027, 1, 1))
    pay(session, loan, payer, "QX2")
    (flag,) = flags.scan(session, dt.date(2026, 12, 1), settings)
    assert flag.kind == "foreign_payer"
    assert flag.reason == f"paid from {shown}, not the borrower's number"
