"""Statement import: payments read from a provider's statement (gateway/providers/mpesa/statements.py)
are recorded exactly like callbacks; receipts already held are skipped by the same unique key."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session

from gateway import audit
from gateway.payments.posting import record_payment


@dataclass
class ImportReport:
    imported: int = 0
    already_known: int = 0  # same receipt already received (callback or an earlier import)
    not_paid_in: int = 0  # withdrawals, charges, incomplete transactions
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, problem)
    payment_ids: list[int] = field(default_factory=list)


def import_rows(session: Session, rows, actor: str, source: str = "csv", lender_id: int | None = None) -> ImportReport:
    """`rows`: (line, payment | None, problem) as a provider's statement reader gives them. `lender_id`:
    the lender whose paybill's statement it is (its payments go only to its loans); None: one lender."""
    report = ImportReport()
    for row in rows:
        if row.problem:
            report.errors.append((row.line, row.problem))
        elif row.payment is None:
            report.not_paid_in += 1
        else:
            payment, created = record_payment(session, row.payment, actor=actor, lender_id=lender_id)
            if created:
                report.imported += 1
                report.payment_ids.append(payment.id)
            else:
                report.already_known += 1
    audit.record(session, actor, "payments.imported", "statement", source, imported=report.imported,
                 already_known=report.already_known, not_paid_in=report.not_paid_in, errors=len(report.errors))
    return report
