"""A second lender with one of everything a staff route can show or touch: borrower, loan in arrears,
flag, SMS waiting for review, call-back request, payments, commission statements and a paid batch,
PAYG device, webhook, raw callback; and its own staff of every role. `admin_records` adds what the
lender-admin, product, spot-check and pursuit pages show: an M-Pesa shortcode, a product of its own,
a loan of it whose pursuit was stopped (cost against recovery), a spot check with its calls. Its names
and references are markers: a response to the first lender's staff that holds one leaks the other
lender's data."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from sqlmodel import select

from gateway.borrowers import catalogue, products
from gateway.config import Settings
from gateway.i18n import N_
from gateway.lenders import partners
from gateway.models import (
    Agent,
    CallbackRequest,
    CodeKind,
    CommissionPayout,
    CommissionStatement,
    FieldPartner,
    Message,
    MessageStatus,
    Payment,
    PaymentStatus,
    PursuitStop,
    RawCallback,
    SpotCheckCall,
)
from gateway.notify import endpoints
from gateway.ops import callcentre, costs, flags, spotchecks
from gateway.payg import service as payg
from gateway.web.auth import issue_token
from tests.helpers import pay_on

ROLE_NAMES = ("field", "callcentre", "manager", "admin")
MONTH = "2026-11"  # the month of the world's payments (the test's clock stands on 2026-11-20)


def build(session, factory, password_hash: str) -> SimpleNamespace:
    mine = factory.partner
    other = FieldPartner(name="Other Lender Ltd", help_line="0800 111 222", paybill="777001")
    session.add(other)
    session.flush()
    catalogue.seed(session, other)
    staff, tokens = {}, {}
    for k, role in enumerate(ROLE_NAMES):
        agent = Agent(name=f"Otieno Other {role}", phone=f"+25471100090{k}", role=role, field_partner_id=other.id,
                      password_hash=password_hash)
        tokens[role] = issue_token(agent)
        session.add(agent)
        staff[role] = agent
    session.commit()
    factory.partner = other  # the factory builds for the other lender, then for ours again
    try:
        borrower = factory.borrower("Beatrice Othieno", branch="Othertown", agent_id=staff["field"].id)
        loan = factory.loan(borrower, first_due=dt.date(2026, 11, 5), frequency="weekly", prefix="OTH",
                            product="solar home system")  # PAYG: its device below
    finally:
        factory.partner = mine
    first = loan_first_installment(session, loan)
    paid = pay_on(session, loan, first, dt.date(2026, 11, 6), "OTHPAID01")
    paid.payer_phone = "+254799555111"  # not the borrower's: the scan raises a foreign-payer flag
    # paid to its paybill with an account number no loan has: its own, though on no loan yet
    suspended = Payment(provider="mpesa", provider_txn_id="OTHSUSP01", amount=5000, currency="KES",
                        field_partner_id=other.id, status=PaymentStatus.suspense, account_ref="OTH-TYPO")
    session.add_all([paid, suspended])
    session.flush()
    flag = flags.raise_flag(session, "reversals", str(loan.id), N_("{count} payments reversed"), {"count": 3},
                            loan_id=loan.id)
    message = Message(borrower_id=borrower.id, phone=borrower.phone, kind="reminder", template="other_lender_only",
                      language="en", text="Other Lender reminder OTHMSG", encoding="GSM-7",
                      status=MessageStatus.unknown)
    callback = CallbackRequest(borrower_id=borrower.id, loan_id=loan.id, reason="ussd_request",
                               source_ref="ussd:OTHCB01")
    raw = RawCallback(provider="mpesa", kind="c2b_confirmation", body='{"TransID": "OTHRAW01"}', status="failed",
                      payment_id=paid.id)
    pending = CommissionStatement(agent_id=staff["callcentre"].id, month="2026-10", currency="KES", total=5000,
                                  payable=5000)
    approved = CommissionStatement(agent_id=staff["callcentre"].id, month="2026-09", currency="KES", total=7000,
                                   payable=7000, status="approved")
    paid_out = CommissionStatement(agent_id=staff["callcentre"].id, month="2026-08", currency="KES", total=3000,
                                   payable=3000, status="paid")
    session.add_all([message, callback, raw, pending, approved, paid_out])
    session.flush()
    session.add(CommissionPayout(statement_id=paid_out.id, batch="PAY-OTHER-1", phone=staff["callcentre"].phone,
                                 amount=3000, exported_by="test"))
    device = payg.register_device(session, loan, "OTH-DEV-1", "a" * 32, 5000)
    hook, _ = endpoints.add(session, other.id, "generic", "other-hook", "https://other.example/hook",
                            ["flag_raised"], "test")
    session.commit()
    return SimpleNamespace(partner=other, staff=staff, tokens=tokens, borrower=borrower, loan=loan, flag=flag,
                           message=message, callback=callback, raw=raw, payment=paid, suspended=suspended,
                           pending=pending, approved=approved, batch="PAY-OTHER-1", device=device, hook=hook)


def admin_records(session, factory, o: SimpleNamespace) -> SimpleNamespace:
    """`o` (from `build`) with a shortcode, a product, a loan of it whose pursuit was stopped, and the
    month's spot check (o.code, o.product, o.stopped, o.stop, o.spot_check, o.spot_call: the call on o.loan)."""
    o.code = partners.add_code(session, o.partner, CodeKind.SHORTCODE, "777002", "test")
    session.commit()
    o.product, o.stopped, o.stop = stopped_loan(session, factory, o.partner, o.borrower, o.staff["callcentre"])
    o.spot_check, _ = spotchecks.draw(session, o.partner, MONTH, seed=1, actor="test", today=dt.date(2026, 11, 20))
    o.spot_call = session.exec(select(SpotCheckCall).where(SpotCheckCall.spot_check_id == o.spot_check.id,
                                                           SpotCheckCall.loan_id == o.loan.id)).one()
    session.commit()
    return o


def stopped_loan(session, factory, other, borrower, caller):
    """A product of the other lender's own ("Othertown solar", prefix OTS) whose rule stops pursuit at any cost
    (0 % expected back), and a loan of it in arrears that one logged call stopped: (product, loan, stop)."""
    product = products.add(session, other, "Othertown solar", products.Draft(
        dict(names={"sw": "sola ya Othertown", "en": "Othertown solar"}, account_prefix="OTS"),
        principal_min="100", principal_max="50000"), "test")
    product.stop_pursuit_over_cost, product.expected_recovery_percent = True, 0  # the admin's rule (no form field)
    session.add(product)
    loan = factory.loan(borrower, first_due=dt.date(2026, 11, 5), frequency="weekly", product=product.code,
                        prefix="OTS")
    callcentre.log_call(session, loan.id, caller, "no_answer")
    assert costs.check(session, Settings.from_env(), loan, dt.date(2026, 11, 20)), "its pursuit is stopped"
    session.commit()
    return product, loan, session.exec(select(PursuitStop).where(PursuitStop.loan_id == loan.id)).one()


def loan_first_installment(session, loan) -> int:
    from gateway import ledger

    return ledger.installments(session, loan.id)[0].amount_due
