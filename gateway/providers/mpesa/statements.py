"""The M-Pesa organisation portal's statement export (CSV or XLSX): its columns turned into payments
events. Only these columns are read; others are ignored."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from decimal import Decimal

import openpyxl

from gateway.config import Settings
from gateway.inbox import CallbackRejected
from gateway.payments.events import Incoming
from gateway.providers.mpesa.callbacks import receipt as mpesa_receipt
from gateway.providers.mpesa.client import NAIROBI
from gateway.providers.parsing import amount, payer_phone

RECEIPT, TIME, PAID_IN = "Receipt No.", "Completion Time", "Paid In"
STATUS, ACCOUNT, DETAILS, OTHER_PARTY = "Transaction Status", "A/C No.", "Details", "Other Party Info"
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%d-%m-%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M")
# "... Acc. BIZ86992", "... Acc. No. BIZ86992", "... Account Number BIZ86992"
_ACC_IN_DETAILS = re.compile(r"\bAcc(?:ount)?\.?\s*(?:No\.?|Number|Num\.?)?\s*[:\-]?\s*([A-Za-z0-9 \-]+)$",
                             re.IGNORECASE)


class UnreadableStatement(ValueError):
    pass


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
            return dt.datetime.strptime(value.strip(), fmt).replace(tzinfo=NAIROBI).astimezone(dt.UTC)
        except ValueError:
            continue
    return None


def read(text: str, max_amount: int = Settings.mpesa_max_amount) -> list[Row]:
    """The CSV export. Lines before the header are skipped; a file without the columns we need is one
    problem. Receipts and amounts are held to the callbacks' rules (`max_amount`: MPESA_MAX_AMOUNT)."""
    return _read_table(list(csv.reader(io.StringIO(text.lstrip("\ufeff")))), max_amount)


def _cell(value) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):  # the workbook's number, written back as the text it showed
        return str(Decimal(repr(value)))
    return "" if value is None else str(value)


def read_xlsx(data: bytes, max_amount: int = Settings.mpesa_max_amount) -> list[Row]:
    """The same export as an XLSX workbook (its first sheet)."""
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl errors alike: the file is not a workbook we can read
        raise UnreadableStatement(f"not a readable XLSX workbook ({type(exc).__name__})") from None
    return _read_table([[_cell(v) for v in row] for row in book.worksheets[0].iter_rows(values_only=True)],
                       max_amount)


def _read_table(table: list[list[str]], max_amount: int) -> list[Row]:
    header_at = next((i for i, cells in enumerate(table) if RECEIPT in (c.strip() for c in cells)), None)
    if header_at is None:
        return [Row(0, problem=f"no header row with a {RECEIPT!r} column")]
    header = [c.strip() for c in table[header_at]]
    missing = {RECEIPT, TIME, PAID_IN} - set(header)
    if missing:
        return [Row(header_at + 1, problem=f"missing columns: {', '.join(sorted(missing))}")]
    rows = []
    for number, cells in enumerate(table[header_at + 1:], start=header_at + 2):
        row = {k: (v or "").strip() for k, v in zip(header, cells, strict=False)}  # short rows: cells left empty
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
