"""What one M-Pesa confirmation leaves in the database before it is answered: the payment, the
raw callback and the two audit rows, exactly (PostgreSQL writes the last three in one statement)."""
import json

from sqlmodel import select

from gateway.models import AuditEvent, RawCallback
from tests.helpers import c2b, payments, post_callback, read

CONFIRM = "/payments/mpesa/c2b/confirmation"


def test_a_confirmation_stores_its_payment_raw_callback_and_audit_rows(factory, session, pay_client):
    loan = factory.loan(factory.borrower(language="en"))

    res = post_callback(pay_client, CONFIRM, c2b(trans_id="RKL51ZDR4F", bill_ref=loan.account_ref, amount="500.00"))
    again = post_callback(pay_client, CONFIRM, c2b(trans_id="RKL51ZDR4F", bill_ref=loan.account_ref, amount="500.00"))

    assert res.status_code == again.status_code == 200
    [payment] = payments(session)
    first, second = read(session, select(RawCallback).order_by(RawCallback.id))
    for raw in (first, second):
        assert (raw.provider, raw.kind, raw.status, raw.payment_id, raw.error, raw.source_ip) == (
            "mpesa", "c2b_confirmation", "processed", payment.id, "", "127.0.0.1")
        assert json.loads(raw.body)["TransID"] == "RKL51ZDR4F" and raw.processed_at is not None
    audits = [(a.actor, a.action, a.entity, a.entity_id, a.data)
              for a in read(session, select(AuditEvent).where(AuditEvent.actor == "mpesa").order_by(AuditEvent.id))]
    assert audits == [
        ("mpesa", "payment.received", "payment", str(payment.id),
         {"provider": "mpesa", "provider_txn_id": "RKL51ZDR4F", "amount": 50000, "currency": "KES",
          "account_ref": loan.account_ref}),
        ("mpesa", "callback.processed", "raw_callback", str(first.id),
         {"kind": "c2b_confirmation", "payment_id": payment.id, "note": ""}),
        ("mpesa", "callback.processed", "raw_callback", str(second.id),  # the duplicate: stored, no new payment
         {"kind": "c2b_confirmation", "payment_id": payment.id, "note": ""}),
    ]
