"""The M-Pesa organisation portal's statement export (CSV): its columns turned into payments
events. Only these columns are read; others are ignored."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass

from gateway.config import Settings
from gateway.inbox import CallbackRejected
from gateway.payments.events import Incoming
from gateway.providers.mpesa.callbacks import receipt as mpesa_receipt
from gateway.providers.mpesa.client import NAIROBI
from gateway.providers.parsing import amount, payer_phone

RECEIPT, TIME, PAID_IN = "Receipt No.", "Completion Time", "Paid In"
STATUS, ACCOUNT, DETAILS, OTHER_PARTY = "Transaction Status", "A/C No.", "Details", "Other Party Info"
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%d-%m-%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M")
_ACC_IN_DETAILS = re.compile(r"Acc(?:ount)?\.?\s*(?:No\.?)?\s*[:\-]?\s*([A-Za-z0-9 \-]+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Row:
    """One statement line: a payment in, something that is not one (withdrawals, charges,
    incomplete), or a problem to report with its line number."""

    line: int
    payment: Incoming | None = None
    problem: str = ""


def _time(value: str) -> dt.datetime | None:
    for fmt in _TIME_FORMATS:
        try:
            return dt.datetime.strptime(value.strip(), fmt).replace(tzinfo=NAIROBI).astimezone(dt.timezone.utc)
        except ValueError:
            continue
    return None


def read(text: str, max_amount: int = Settings.mpesa_max_amount) -> list[Row]:
    """Lines before the header are skipped; a file without the columns we need is one problem.
    Receipts and amounts are held to the callbacks' rules (`max_amount`: MPESA_MAX_AMOUNT)."""
    lines = text.lstrip("\ufeff").splitlines()
    header_at = next((i for i, line in enumerate(lines) if RECEIPT in line), None)
    if header_at is None:
        return [Row(0, problem=f"no header row with a {RECEIPT!r} column")]
    reader = csv.DictReader(io.StringIO("\n".join(lines[header_at:])))
    missing = {RECEIPT, TIME, PAID_IN} - set(h.strip() for h in reader.fieldnames or [])
    if missing:
        return [Row(header_at + 1, problem=f"missing columns: {', '.join(sorted(missing))}")]
    rows = []
    for number, row in enumerate(reader, start=header_at + 2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if not row.get(RECEIPT):
            continue
        paid_in = row.get(PAID_IN, "").replace(",", "")  # the portal writes "1,000.00"
        if paid_in in ("", "0", "0.00") or row.get(STATUS, "Completed").lower() != "completed":
            rows.append(Row(number))
            continue
        try:
            receipt = mpesa_receipt(row[RECEIPT], RECEIPT)
            minor = amount(paid_in, "KES", max_amount)
        except CallbackRejected as exc:
            rows.append(Row(number, problem=exc.detail))
            continue
        paid_at = _time(row.get(TIME, ""))
        if paid_at is None:
            rows.append(Row(number, problem=f"unreadable {TIME}: {row.get(TIME)!r}"))
            continue
        account = row.get(ACCOUNT, "")
        if not account:
            found = _ACC_IN_DETAILS.search(row.get(DETAILS, ""))
            account = found.group(1) if found else ""
        other_party = row.get(OTHER_PARTY, "").split(" - ")[0].strip()
        rows.append(Row(number, Incoming(provider="mpesa", txn_id=receipt, amount=minor, currency="KES",
                                         payer_phone=payer_phone(other_party), account_ref=account, paid_at=paid_at)))
    return rows
