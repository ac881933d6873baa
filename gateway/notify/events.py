"""Domain events become Notification rows, in the transaction of the event (the outbox): one per
endpoint that wants the event, once per `dedupe_key`; the delivery job is enqueued after commit."""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from gateway import jobs, outbox, signals
from gateway.models import Borrower, Flag, Loan, Notification
from gateway.notify.endpoints import wanting


def store(session: Session, partner_id: int, event: str, key: str, payload: dict, *,
          only=lambda endpoint: True) -> list[Notification]:
    """A Notification per endpoint of the lender that wants `event` (and passes `only`), once per key."""
    made = []
    for endpoint in wanting(session, partner_id, event):
        if not only(endpoint):
            continue
        dedupe_key = f"{event}:{key}:{endpoint.id}"[:120]
        if session.exec(select(Notification.id).where(Notification.dedupe_key == dedupe_key)).first():
            continue
        note = Notification(endpoint_id=endpoint.id, event=event, payload=payload, dedupe_key=dedupe_key)
        try:
            with session.begin_nested():  # a concurrent run may have stored it meanwhile
                session.add(note)
                session.flush()
        except IntegrityError:
            continue
        outbox.after_commit(session, jobs.DELIVER_NOTIFICATION, note.id, 0)
        made.append(note)
    return made


def _loan_partner(session: Session, loan_id: int | None) -> tuple[Loan | None, int | None]:
    loan = session.get(Loan, loan_id) if loan_id else None
    borrower = session.get(Borrower, loan.borrower_id) if loan else None
    return loan, borrower.field_partner_id if borrower else None


@signals.payment_posted.connect
def _payment_posted(payment, session: Session, **_):
    loan, partner = _loan_partner(session, payment.loan_id)
    if partner is None:
        return
    store(session, partner, "large_payment", str(payment.id),
          {"loan": loan.account_ref, "amount": payment.amount, "currency": payment.currency},
          only=lambda e: e.payment_threshold and payment.amount >= e.payment_threshold)


@signals.flag_raised.connect
def _flag_raised(flag: Flag, session: Session, **_):
    loan, partner = _loan_partner(session, flag.loan_id)
    if partner is None and flag.borrower_id:
        borrower = session.get(Borrower, flag.borrower_id)
        partner = borrower.field_partner_id if borrower else None
    if partner is None:
        return
    store(session, partner, "flag_raised", str(flag.id),
          {"flag_id": flag.id, "kind": flag.kind, "loan": loan.account_ref if loan else "",
           "reason": (flag.details or {}).get("reason") or {"msgid": flag.reason, "values": {}}})


@signals.loan_repaid.connect
def _loan_repaid(loan: Loan, session: Session, **_):
    _, partner = _loan_partner(session, loan.id)
    if partner is not None:
        store(session, partner, "loan_repaid", str(loan.id),
              {"loan": loan.account_ref, "product": loan.product, "principal": loan.principal,
               "currency": loan.currency})
