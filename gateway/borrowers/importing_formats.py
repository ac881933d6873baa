"""What a portfolio file looks like: our template's columns (docs/portfolio_template.csv), a
schedules table, and the loan sheet of Apache Fineract / Mifos X ("Loans" of its loan bulk-import
template), read from CSV or XLSX into plain rows of our column names with their line numbers."""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import openpyxl

# Our template, in order. Required: external_id, name, phone, product, principal; then either the terms
# (installments, first_due_date; frequency, method, rate_per_period, fee_per_installment optional) or
# the loan's rows in a schedules table.
COLUMNS = ("external_id", "name", "phone", "language", "branch", "national_id", "product", "principal", "currency",
           "disbursed_on", "account_ref", "installments", "frequency", "first_due_date", "method",
           "rate_per_period", "fee_per_installment", "paid_to_date")
REQUIRED = ("external_id", "name", "phone", "product", "principal")
SCHEDULE_COLUMNS = ("external_id", "due_date", "principal", "interest", "fees")
SCHEDULES_SHEET = "schedules"  # the sheet of an XLSX workbook holding the schedules, if any

# Fineract's "Loans" sheet (LoanWorkbookPopulator) -> ours. "Mobile number" is the client's (Clients
# sheet); a loan export that carries it in a column of that name is read directly.
FINERACT = {
    "External Id": "external_id", "Client/Group Name*": "name", "Mobile number": "phone", "Mobile Number": "phone",
    "Office Name*": "branch", "Client ExternalID": "national_id", "Product*": "product",
    "Principal*": "principal", "Disbursed Date": "disbursed_on", "# of Repayments*": "installments",
    "First Repayment On": "first_due_date", "Interest Method*": "method", "Amount Repaid": "paid_to_date",
}
# Columns Fineract writes without a header, right after these: their unit.
FINERACT_UNITS = {"Repaid Every*": "Repaid Every Frequency", "Nominal Interest %*": "Nominal Interest Frequency",
                  "Loan Term*": "Loan Term Frequency"}
FINERACT_METHODS = {"flat": "flat", "declining balance": "declining"}
_PERIODS_A_YEAR = {"weekly": 52, "monthly": 12}
DATE_FORMATS = ("%Y-%m-%d", "%d %B %Y", "%d %b %Y", "%d/%m/%Y", "%d-%m-%Y")  # ISO; Fineract's "dd MMMM yyyy"


class FormatError(ValueError):
    """The file as a whole cannot be read (not its rows: those are reported one by one)."""


class RowError(ValueError):
    """One row's problem."""


@dataclass
class Table:
    kind: str  # "template" | "fineract"
    rows: list[tuple[int, dict[str, str]]]  # (line number, our column -> text)
    schedules: list[tuple[int, dict[str, str]]]


def _cell(value) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):  # the number the sheet showed, never a float in our sums
        return str(Decimal(repr(value)).normalize()) if value != int(value) else str(int(value))
    return "" if value is None else str(value).strip()


def _csv_table(text: str) -> list[list[str]]:
    return [[c.strip() for c in row] for row in csv.reader(io.StringIO(text.lstrip("\ufeff")))]


def read(data: bytes, name: str, schedules: bytes | None = None) -> Table:
    """A CSV (UTF-8) or XLSX portfolio; `schedules` a CSV of installments (else an XLSX's schedules sheet)."""
    schedule_table: list[list[str]] = []
    if data.startswith(b"PK") or name.lower().endswith((".xlsx", ".xlsm")):
        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # zipfile, XML and openpyxl errors alike
            raise FormatError(f"{name} is not a readable XLSX workbook ({type(exc).__name__})") from None
        sheets = {sheet.title.casefold(): sheet for sheet in book.worksheets}
        main = sheets.get("loans") or book.worksheets[0]
        table = [[_cell(v) for v in row] for row in main.iter_rows(values_only=True)]
        if SCHEDULES_SHEET in sheets:
            schedule_table = [[_cell(v) for v in row] for row in sheets[SCHEDULES_SHEET].iter_rows(values_only=True)]
    else:
        try:
            table = _csv_table(data.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise FormatError(f"{name} is neither a CSV text file (UTF-8) nor an XLSX workbook") from None
    if schedules is not None:
        try:
            schedule_table = _csv_table(schedules.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise FormatError("the schedules file is not a CSV text file (UTF-8)") from None
    if not table or not any(table[0]):
        raise FormatError(f"{name} has no header row")
    header = table[0]
    if "Client/Group Name*" in header or "Product*" in header:
        kind, rows = "fineract", _fineract_rows(header, table[1:])
    else:
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise FormatError(f"{name} lacks the columns {', '.join(missing)} (see docs/portfolio_template.csv)")
        kind, rows = "template", _rows(header, table[1:])
    if not rows:
        raise FormatError(f"{name} has no loans")
    sched = []
    if schedule_table:
        missing = [c for c in SCHEDULE_COLUMNS if c not in schedule_table[0]]
        if missing:
            raise FormatError(f"the schedules lack the columns {', '.join(missing)}")
        sched = _rows(schedule_table[0], schedule_table[1:])
    return Table(kind, rows, sched)


def _rows(header: list[str], body: list[list[str]]) -> list[tuple[int, dict[str, str]]]:
    out = []
    for k, cells in enumerate(body, start=2):
        if any(cells):
            out.append((k, {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header) if h}))
    return out


def _fineract_rows(header: list[str], body: list[list[str]]) -> list[tuple[int, dict[str, str]]]:
    named = list(header)
    for i, h in enumerate(header[:-1]):
        if h in FINERACT_UNITS and not header[i + 1]:
            named[i + 1] = FINERACT_UNITS[h]
    out = []
    for line, raw in _rows(named, body):
        row = {ours: raw.get(theirs, "") for theirs, ours in FINERACT.items() if raw.get(theirs, "")}
        row["_fineract"] = raw  # the rest is turned into terms by `fineract_terms`, with the row's errors
        out.append((line, row))
    return out


def fineract_terms(row: dict[str, str]) -> dict[str, str]:
    """Fineract's loan type, repayment period and nominal interest rate as our terms (RowError if we
    cannot lend like that: group loans, repayments every 2 weeks, days)."""
    raw = row.pop("_fineract", {})
    loan_type = raw.get("Loan Type*", "Individual").strip() or "Individual"
    if loan_type.casefold() != "individual":
        raise RowError(f"Loan Type {loan_type!r}: only individual loans are imported")
    every, unit = raw.get("Repaid Every*", "1").strip() or "1", raw.get("Repaid Every Frequency", "").strip()
    frequency = {"weeks": "weekly", "months": "monthly"}.get(unit.casefold(), "")
    if every != "1" or not frequency:
        raise RowError(f"repaid every {every} {unit or '?'}: only every 1 Weeks or every 1 Months is served")
    method = row.get("method", "Flat").strip().casefold()
    if method not in FINERACT_METHODS:
        raise RowError(f"Interest Method {row.get('method')!r}: Flat or Declining Balance")
    terms = dict(row, frequency=frequency, method=FINERACT_METHODS[method])
    rate = raw.get("Nominal Interest %*", "").strip()
    if rate:
        try:
            percent = Decimal(rate)
        except InvalidOperation:
            raise RowError(f"Nominal Interest % {rate!r} is not a number") from None
        per = raw.get("Nominal Interest Frequency", "Per Month").strip().casefold()
        a_year = {"per month": 12, "per year": 1}.get(per)
        if a_year is None:
            raise RowError(f"nominal interest {per!r}: Per Month or Per Year")
        terms["rate_per_period"] = str(percent / 100 * a_year / _PERIODS_A_YEAR[frequency])
    return terms


def parse_date(value: str, column: str) -> dt.date:
    text = (value or "").strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    for fmt in DATE_FORMATS[1:]:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise RowError(f"{column} {value!r} is not a date (YYYY-MM-DD)")
