"""Shared by the tests of every domain: dialling the USSD webhook as Africa's Talking does, and
posting a payment through the real ledger."""
import itertools

from gateway.models import Payment
from gateway import ledger

_sessions = itertools.count(1)


def dial(client, phone, text="", session_id=None):
    """One hop: POST the form AT sends; the reply must be a 200 text/plain USSD screen."""
    res = client.post("/ussd", data={"sessionId": session_id or f"ATUid_test_{next(_sessions)}",
                                     "serviceCode": "*384*1234#", "phoneNumber": phone, "networkCode": "63902",
                                     "text": text})
    assert res.status_code == 200 and res.mimetype == "text/plain"
    return res.get_data(as_text=True)


def pay(session, loan, amount_minor: int, txn: str, provider: str = "mpesa") -> Payment:
    """A payment of `amount_minor` (M-Pesa unless said), stored and posted to the loan, committed."""
    payment = Payment(provider=provider, provider_txn_id=txn, amount=amount_minor, currency=loan.currency)
    session.add(payment)
    session.flush()
    ledger.post_payment(session, payment, loan.id)
    session.commit()
    return payment
