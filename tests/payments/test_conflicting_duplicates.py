"""The same receipt again with a different amount or account: answered like any duplicate (the
provider stops retrying), the first version stays the payment, the other is kept and flagged."""
import re

from sqlmodel import select

from gateway.models import Agent, Flag, PaymentConflict, RawCallback
from gateway.web.console_session import set_password
from tests.helpers import c2b, ledger_of, messages, payments, post_callback, read, run_payment_jobs, stk_success

CONFIRM = "/payments/daraja/c2b/confirmation"
ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def test_same_receipt_with_another_amount_is_acknowledged_kept_and_flagged(factory, session, pay_client,
                                                                          manager_token):
    loan = factory.loan(factory.borrower())
    assert post_callback(pay_client, CONFIRM, c2b(amount="100.00", bill_ref=loan.account_ref)).get_json() == ACCEPTED
    run_payment_jobs()
    for _ in range(2):  # the provider retries the second version: kept once, flagged once
        res = post_callback(pay_client, CONFIRM, c2b(amount="9000.00", bill_ref=loan.account_ref))
        assert res.status_code == 200 and res.get_json() == ACCEPTED
    run_payment_jobs()

    [payment] = payments(session)
    assert (payment.amount, payment.status) == (10000, "posted")  # the first version, posted once
    assert sum(a for _, a, _ in ledger_of(session, payment.id)) == 10000 and len(messages(session)) == 1
    [conflict] = read(session, select(PaymentConflict))
    assert (conflict.payment_id, conflict.amount, conflict.currency, conflict.account_ref) == (
        payment.id, 900000, "KES", loan.account_ref)
    assert len(read(session, select(RawCallback))) == 3  # every version's body is kept as received
    [flag] = read(session, select(Flag))
    assert (flag.kind, flag.loan_id, flag.payment_id) == ("conflicting_duplicate", loan.id, payment.id)
    assert "RKL51ZDR4F" in flag.reason and "KES 100.00" in flag.reason and "KES 9000.00" in flag.reason

    listed = pay_client.get("/api/ops/flags", headers={"Authorization": f"Bearer {manager_token}"}).get_json()
    assert [(f["kind"], f["reason"], f["loan_id"]) for f in listed["flags"]] == [
        ("conflicting_duplicate", flag.reason, loan.id)]


def test_same_receipt_for_another_account_is_flagged_with_both_accounts(factory, session, pay_client):
    first, second = factory.loan(factory.borrower()), factory.loan(factory.borrower())
    post_callback(pay_client, CONFIRM, c2b(bill_ref=first.account_ref))
    run_payment_jobs()
    assert post_callback(pay_client, CONFIRM, c2b(bill_ref=second.account_ref)).get_json() == ACCEPTED
    [payment] = payments(session)
    assert payment.loan_id == first.id
    [flag] = read(session, select(Flag))
    assert flag.kind == "conflicting_duplicate" and flag.loan_id == first.id
    assert first.account_ref in flag.reason and second.account_ref in flag.reason


def test_a_conflict_is_shown_on_the_console_flags_page(factory, session, pay_client, pay_app):
    loan = factory.loan(factory.borrower())
    post_callback(pay_client, CONFIRM, c2b(amount="100.00", bill_ref=loan.account_ref))
    post_callback(pay_client, CONFIRM, c2b(amount="9000.00", bill_ref=loan.account_ref))
    agent = Agent(name="Grace Otieno", phone="+254700100004", role="manager", field_partner_id=factory.partner.id)
    set_password(agent, "correct horse battery")
    session.add(agent)
    session.commit()
    page = pay_client.get("/ops/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    pay_client.post("/ops/login", data={"phone": "0700100004", "password": "correct horse battery", "csrf_token": csrf})
    page = pay_client.get("/ops/flags").get_data(as_text=True)
    assert "RKL51ZDR4F" in page and "KES 9000.00" in page and "Same receipt, different details" in page


def test_exact_duplicates_and_the_same_receipt_by_stk_and_c2b_are_not_conflicts(factory, session, pay_client):
    loan = factory.loan(factory.borrower())
    post_callback(pay_client, CONFIRM, c2b(trans_id="NLJ7RT61SV", bill_ref=loan.account_ref.lower()))
    post_callback(pay_client, CONFIRM, c2b(trans_id="NLJ7RT61SV", bill_ref=loan.account_ref))
    post_callback(pay_client, "/payments/daraja/stk/callback", stk_success(receipt="NLJ7RT61SV"))
    assert read(session, select(PaymentConflict)) == [] and read(session, select(Flag)) == []
