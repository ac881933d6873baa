"""The post job runs again (an RQ retry, the sweeper, an operator's "retry") after the payment
was posted, reversed, put in suspense or refunded: nothing changes, not the ledger, not the
installments, not the payment, and no second receipt goes out."""
from sqlmodel import select

from gateway import jobs, ledger
from gateway.models import Installment, Loan
from gateway.workers.payments import post_payment
from tests.helpers import c2b, ledger_of, messages, payments, post_callback, read, reversal_result, run_payment_jobs

CONFIRM = "/payments/mpesa/c2b/confirmation"
REVERSAL = "/payments/mpesa/reversal/result"




def books(session, loan):
    """Everything a re-run could change: payments, their ledger, installments, loan, balance, SMS."""
    pays = payments(session)
    return {
        "payments": [(p.status, p.loan_id, p.amount, p.note) for p in pays],
        "ledger": {p.id: ledger_of(session, p.id) for p in pays},
        "installments": [(i.interest_paid, i.principal_paid, i.status) for i in read(
            session, select(Installment).where(Installment.loan_id == loan.id).order_by(Installment.seq))],
        "loan": read(session, select(Loan.status).where(Loan.id == loan.id)),
        "outstanding": ledger.balance(session, loan, loan.disbursed_on).outstanding,
        "sms": [(m.template, m.text, m.status) for m in messages(session)],
    }


def rerun_post_jobs(session, how):
    for payment in payments(session):
        if how == "queue":  # as a retry or the sweeper would: through the queue, by a real worker
            jobs.enqueue(jobs.POST_PAYMENT, payment.id)
            run_payment_jobs()
        else:
            post_payment(payment.id)
    session.commit()


def paid(factory, pay_client, amount="3000", bill_ref=None):
    loan = factory.loan(factory.borrower(language="en"))  # 4 x (500 interest + 2,500 principal)
    post_callback(pay_client, CONFIRM, c2b(bill_ref=bill_ref or loan.account_ref, amount=amount))
    run_payment_jobs()
    return loan


def check_reruns_change_nothing(session, loan):
    before = books(session, loan)
    for how in ("queue", "direct", "queue"):
        rerun_post_jobs(session, how)
        assert books(session, loan) == before
    return before


def test_rerun_after_posting_changes_nothing(factory, session, pay_client):
    loan = paid(factory, pay_client)
    before = check_reruns_change_nothing(session, loan)
    assert before["payments"][0][0] == "posted" and before["installments"][0] == (50000, 250000, "paid")
    assert [t for t, _, _ in before["sms"]] == ["payment_receipt"]


def test_rerun_after_an_mpesa_reversal_changes_nothing(factory, session, pay_client):
    loan = paid(factory, pay_client)
    assert post_callback(pay_client, REVERSAL, reversal_result()).status_code == 200
    before = check_reruns_change_nothing(session, loan)
    assert before["payments"][0][0] == "reversed"
    (entries,) = before["ledger"].values()
    assert sum(amount for _, amount, _ in entries) == 0 and len(entries) == 4  # posted once, unwound once
    assert before["installments"][0] == (0, 0, "pending") and before["outstanding"] == 1200000


def test_rerun_after_an_operator_reversal_changes_nothing(factory, session, pay_client, manager_token):
    loan = paid(factory, pay_client)
    [payment] = payments(session)
    res = pay_client.post(f"/api/payments/{payment.id}/reverse", json={"reason": "paid by mistake"},
                          headers={"Authorization": f"Bearer {manager_token}"})
    assert res.status_code == 200
    before = check_reruns_change_nothing(session, loan)
    assert before["payments"][0][0] == "reversed" and before["outstanding"] == 1200000


def test_rerun_after_a_refund_changes_nothing(factory, session, pay_client, manager_token):
    loan = paid(factory, pay_client, amount="75", bill_ref="WRONG")  # no such account: suspense
    before = check_reruns_change_nothing(session, loan)  # suspense stays suspense
    assert before["payments"][0][:2] == ("suspense", None)
    [payment] = payments(session)
    res = pay_client.post(f"/api/payments/{payment.id}/refund", json={"reason": "sent back to payer"},
                          headers={"Authorization": f"Bearer {manager_token}"})
    assert res.status_code == 200
    before = check_reruns_change_nothing(session, loan)
    assert before["payments"][0][:2] == ("refunded", None) and before["ledger"] == {payment.id: []}
    assert before["outstanding"] == 1200000 and before["sms"] == []
