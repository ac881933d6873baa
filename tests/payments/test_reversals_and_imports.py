"""Reversals unwind with compensating entries; the sweeper recovers lost jobs and failed
callbacks; statement imports skip receipts we already hold."""
import json

from click.testing import CliRunner
from rq import Queue
from sqlmodel import select

from gateway import jobs, ledger
from gateway.cli import main
from gateway.models import Installment, Loan, RawCallback
from gateway.queue import get_redis
from gateway.workers import sweeper
from tests.helpers import c2b, ledger_of, messages, payments, post_callback, read, reversal_result, run_payment_jobs

CONFIRM = "/payments/mpesa/c2b/confirmation"
REVERSAL = "/payments/mpesa/reversal/result"




def installment_rows(session, loan_id):
    return [(i.interest_paid, i.principal_paid, i.status)
            for i in read(session, select(Installment).where(Installment.loan_id == loan_id).order_by(Installment.seq))]


def test_mpesa_reversal_leaves_the_payment_summing_to_zero_and_the_installment_unpaid(factory, session, pay_client):
    loan = factory.loan(factory.borrower())  # 4 x (500 interest + 2,500 principal)
    post_callback(pay_client, CONFIRM, c2b(bill_ref=loan.account_ref, amount="3000"))
    run_payment_jobs()
    assert installment_rows(session, loan.id)[0] == (50000, 250000, "paid")

    for _ in range(2):  # replayed result: unwound once
        res = post_callback(pay_client, REVERSAL, reversal_result())
        assert res.status_code == 200 and res.get_json() == {"ResultCode": 0, "ResultDesc": "Accepted"}

    [payment] = payments(session)
    assert payment.status == "reversed" and payment.note == "M-Pesa reversal RKM61ZDR9X"
    entries = ledger_of(session, payment.id)
    assert entries == [("interest", 50000, "allocation"), ("principal", 250000, "allocation"),
                       ("interest", -50000, "reversal"), ("principal", -250000, "reversal")]
    assert sum(amount for _, amount, _ in entries) == 0
    assert installment_rows(session, loan.id)[0] == (0, 0, "pending")
    assert ledger.balance(session, loan, loan.disbursed_on).outstanding == 1200000
    session.commit()


def test_reversal_of_a_paid_off_loan_reopens_it_and_takes_back_credit(factory, session, pay_client, manager_token):
    loan = factory.loan(factory.borrower(), principal="1000", count=1, rate="0")
    post_callback(pay_client, CONFIRM, c2b(bill_ref=loan.account_ref, amount="1200"))
    run_payment_jobs()
    [payment] = payments(session)
    assert [row.status for row in read(session, select(Loan))] == ["repaid"]
    auth = {"Authorization": f"Bearer {manager_token}"}
    res = pay_client.post(f"/api/payments/{payment.id}/reverse", json={"reason": "paid to the wrong paybill"},
                          headers=auth)
    assert res.status_code == 200 and res.get_json()["payment"]["status"] == "reversed"
    again = pay_client.post(f"/api/payments/{payment.id}/reverse", json={"reason": "again"}, headers=auth)
    assert again.status_code == 409
    assert sum(a for _, a, _ in ledger_of(session, payment.id)) == 0
    assert [row.status for row in read(session, select(Loan))] == ["active"]
    bal = ledger.balance(session, loan, loan.disbursed_on)
    assert (bal.outstanding, bal.credit) == (100000, 0)
    session.commit()


def test_failed_reversal_result_changes_nothing(factory, session, pay_client):
    loan = factory.loan(factory.borrower())
    post_callback(pay_client, CONFIRM, c2b(bill_ref=loan.account_ref))
    run_payment_jobs()
    post_callback(pay_client, REVERSAL, reversal_result(code=11))
    [payment] = payments(session)
    assert payment.status == "posted"


def test_operators_review_rejected_and_failed_callbacks_and_retry_one(factory, session, pay_client, manager_token):
    auth = {"Authorization": f"Bearer {manager_token}"}
    post_callback(pay_client, CONFIRM, "not json")
    loan = factory.loan(factory.borrower())
    # A confirmation whose processing failed (a bug since fixed): stored as failed, as the inbox does.
    session.add(RawCallback(provider="mpesa", kind="c2b_confirmation", status="failed", error="KeyError: 'x'",
                            body=json.dumps(c2b(bill_ref=loan.account_ref))))
    session.commit()
    assert pay_client.get("/api/payments/callbacks").status_code == 401
    [rejected] = pay_client.get("/api/payments/callbacks?status=rejected", headers=auth).get_json()["callbacks"]
    assert (rejected["body"], rejected["kind"]) == ("not json", "c2b_confirmation")
    [failed] = pay_client.get("/api/payments/callbacks?status=failed", headers=auth).get_json()["callbacks"]
    assert failed["kind"] == "c2b_confirmation"

    res = pay_client.post(f"/api/payments/callbacks/{failed['id']}/retry", headers=auth)
    assert res.get_json() == {"outcome": "processed"}
    assert pay_client.post(f"/api/payments/callbacks/{failed['id']}/retry", headers=auth).status_code == 409
    run_payment_jobs()
    assert payments(session)[0].status == "posted"
    [raw] = read(session, select(RawCallback).where(RawCallback.id == failed["id"]))
    assert (raw.status, raw.attempts) == ("processed", 1)


def test_sweeper_retries_a_failed_callback(factory, session, pay_client):
    loan = factory.loan(factory.borrower())
    session.add(RawCallback(provider="mpesa", kind="c2b_confirmation", status="failed", error="KeyError: 'x'",
                            body=json.dumps(c2b(bill_ref=loan.account_ref))))
    session.commit()
    assert sweeper.sweep(older_than_seconds=0)["callbacks_retried"] == 1
    run_payment_jobs()
    assert payments(session)[0].status == "posted"
    assert sweeper.sweep(older_than_seconds=0)["callbacks_retried"] == 0


def test_sweeper_posts_payments_whose_job_was_lost(factory, session, pay_client):
    loan = factory.loan(factory.borrower())
    post_callback(pay_client, CONFIRM, c2b(bill_ref=loan.account_ref))
    Queue(jobs.POST_PAYMENT.queue, connection=get_redis()).empty()  # as if Redis had lost the job
    run_payment_jobs()
    assert payments(session)[0].status == "received"

    assert sweeper.sweep(older_than_seconds=3600)["enqueued"] == 0  # too recent to be stuck
    assert sweeper.sweep(older_than_seconds=0)["enqueued"] == 1
    run_payment_jobs()
    assert payments(session)[0].status == "posted" and len(messages(session)) == 1


STATEMENT = """Account Holder:,Jirani Finance
Short Code:,600966
Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No.
RKL51ZDR4F,2026-11-21 12:13:25,2026-11-21 12:13:25,Pay Bill from 254708374149 - JOHN DOE Acc. {ref},Completed,500.00,,25500.00,true,Pay Bill Online,254708374149 - JOHN DOE,,{ref}
RKL51ZDR5G,2026-11-21 13:00:02,2026-11-21 13:00:02,Pay Bill from 254708374150 - MARY W Acc. {ref_spaced},Completed,"1,000.00",,26500.00,true,Pay Bill Online,254708374150 - MARY W,,
RKL51ZDR6H,2026-11-21 14:00:00,2026-11-21 14:00:00,Business Charges,Completed,,30.00,26470.00,true,Charge,,,
RKL51ZDR7J,not a time,2026-11-21 15:00:00,Pay Bill from 254708374151 - A B Acc. X,Completed,10.00,,26480.00,true,Pay Bill Online,254708374151 - A B,,X
RKL51ZDR8K,2026-11-21 16:00:00,2026-11-21 16:00:00,Pay Bill from 254708374152 - C D Acc. UNKNOWN1,Completed,20.00,,26500.00,true,Pay Bill Online,254708374152 - C D,,UNKNOWN1
"""  # noqa: E501  (a statement's lines, as M-Pesa exports them)


def test_statement_import_skips_receipts_already_posted(factory, session, pay_client, tmp_path):
    loan = factory.loan(factory.borrower())
    post_callback(pay_client, CONFIRM, c2b(trans_id="RKL51ZDR4F", bill_ref=loan.account_ref, amount="500.00"))
    run_payment_jobs()
    csv_file = tmp_path / "statement.csv"
    csv_file.write_text(STATEMENT.format(ref=loan.account_ref,
                                         ref_spaced=f"{loan.account_ref[:3]} {loan.account_ref[3:]}"))

    result = CliRunner().invoke(main, ["payments", "import-csv", str(csv_file)])
    assert "imported 2, already received 1, not paid in 1, errors 1" in result.output
    assert "line 7: unreadable Completion Time: 'not a time'" in result.output
    assert result.exit_code == 1  # errors are reported, the good rows are kept
    run_payment_jobs()
    rows = {p.provider_txn_id: (p.amount, p.status) for p in payments(session)}
    assert rows == {"RKL51ZDR4F": (50000, "posted"), "RKL51ZDR5G": (100000, "posted"), "RKL51ZDR8K": (2000, "suspense")}
    assert len(ledger_of(session, payments(session)[0].id)) == 1  # the callback's posting, not a second one

    again = CliRunner().invoke(main, ["payments", "import-csv", str(csv_file)])
    assert "imported 0, already received 3" in again.output


def test_stored_body_is_the_exact_text_received(session, pay_client):
    text = json.dumps(c2b(), indent=2)
    post_callback(pay_client, CONFIRM, text)
    [raw] = read(session, select(RawCallback))
    assert raw.body == text and raw.kind == "c2b_confirmation" and raw.provider == "mpesa"
