"""Portfolio import: a lender arrives with its existing loans (`gateway portfolio import FILE`).

Every row is checked first (borrower, product, schedule, paid to date); a file with a bad row imports
nothing unless `skip_bad_rows`. Loans are named by (lender, the lender's own loan id): an unchanged
row is skipped, a changed one updates its loan. What was paid to date is allocated by the ledger's
own rule (`ledger.spread`), as ledger entries of kind "import", so arrears, PAR and reminders are
right from the first day. Imported borrowers get no welcome SMS (they are existing customers); the
reminder planner picks their loans up. The writing is in importing_write.py."""
from __future__ import annotations

import gc
import hashlib
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy import func
from sqlmodel import Session, select

from gateway import audit
from gateway.borrowers import catalogue, onboarding
from gateway.borrowers.accounts import normalize_account_ref
from gateway.borrowers.importing_formats import FormatError, RowError, Table, fineract_terms, parse_date
from gateway.ledger import schedule
from gateway.models import Borrower, FieldPartner, ImportedLoan, Installment, LedgerEntry, Loan, Product
from gateway.money import MoneyError, to_minor

__all__ = ["FormatError", "Record", "Report", "parse", "plan", "run"]
IMPORT_KINDS = ("import", "import-undo")  # ledger entries the import writes; anything else came later
CHUNK = 2000
_LIMITS = {"external_id": 64, "name": 120, "branch": 80, "national_id": 40}


@dataclass
class Record:
    """One good row, normalised: what the lender's file says about one loan."""

    line: int
    external_id: str
    borrower: dict  # name, phone, language, country, timezone, national_id, branch
    product: Product
    principal: int
    currency: str
    disbursed_on: object
    account_ref: str  # "" : one is generated with the product's prefix
    rows: list[schedule.Row]
    paid: int
    digest: str = ""
    action: str = "new"  # new | update | unchanged
    loan_id: int | None = None


@dataclass
class Report:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    borrowers_new: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, problem)
    written: bool = False

    def summary(self) -> str:
        verb = "imported" if self.written else "would import"
        return (f"{verb}: {self.new} new loans ({self.borrowers_new} new borrowers), {self.updated} updated, "
                f"{self.unchanged} unchanged; {len(self.errors)} bad rows")


def _text(row: dict, column: str) -> str:
    value = (row.get(column) or "").strip()
    if "\x00" in value:  # PostgreSQL text cannot hold it
        raise RowError(f"{column} must not contain NUL characters")
    if len(value) > _LIMITS.get(column, 200):
        raise RowError(f"{column} is longer than {_LIMITS.get(column, 200)} characters")
    return value


def _amount(row: dict, column: str, currency: str, default: str = "0") -> int:
    try:
        value = to_minor(_text(row, column) or default, currency)
    except MoneyError as exc:
        raise RowError(f"{column}: {exc}") from None
    if value < 0:
        raise RowError(f"{column} must not be negative")
    return value


class _Products:
    """The lender's catalogue, looked up once; an unknown product says which there are."""

    def __init__(self, session: Session, partner: FieldPartner):
        self.session, self.partner = session, partner
        self.known = {p.code.casefold(): p for p in catalogue.products(session, partner.id)}

    def find(self, code: str) -> Product:
        product = self.known.get(" ".join(code.split()).casefold())
        return product or catalogue.find(self.session, self.partner.id, code)  # raises, naming the products


def _schedules(table: Table, errors: list) -> dict[str, list[tuple[int, dict]]]:
    out: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    for line, row in table.schedules:
        ext = (row.get("external_id") or "").strip()
        if not ext:
            errors.append((line, "schedules: external_id is required"))
        else:
            out[ext].append((line, row))
    return out


def _schedule_rows(given: list[tuple[int, dict]], currency: str, principal: int) -> list[schedule.Row]:
    rows = []
    for line, row in given:
        try:
            rows.append(schedule.Row(parse_date(row.get("due_date", ""), "due_date"),
                                     *(_amount(row, c, currency) for c in ("principal", "interest", "fees"))))
        except RowError as exc:
            raise RowError(f"schedules line {line}: {exc}") from None
    if sum(r.principal for r in rows) != principal:
        raise RowError("the schedule's principal does not add up to the loan's principal")
    return sorted(rows, key=lambda r: r.due_date)


def _terms(row: dict, product: Product, principal: int, currency: str) -> list[schedule.Row]:
    count, first_due = _text(row, "installments"), _text(row, "first_due_date")
    if not count or not first_due:
        raise RowError("give installments and first_due_date, or the loan's rows in the schedules")
    try:
        rate = Decimal(_text(row, "rate_per_period") or "0")
        count_n = int(count)
    except (InvalidOperation, ValueError):
        raise RowError("installments must be a whole number and rate_per_period a number") from None
    return schedule.generate(principal, rate, count_n, parse_date(first_due, "first_due_date"),
                             _text(row, "frequency").lower() or product.frequency,
                             _text(row, "method").lower() or "flat", _amount(row, "fee_per_installment", currency),
                             unit=catalogue.unit(product))


def _record(line: int, row: dict, partner: FieldPartner, products: _Products, kind: str,
            schedules: dict[str, list]) -> Record:
    if kind == "fineract":
        row = fineract_terms(row)
    ext = _text(row, "external_id")
    if not ext:
        raise RowError("external_id is required (the lender's own loan id)")
    # an empty language cell: the lender's first, as borrower_fields decides for onboarding too
    borrower = onboarding.borrower_fields(partner, _text(row, "name"), _text(row, "phone"), _text(row, "language"))
    borrower.update(branch=_text(row, "branch"), national_id=_text(row, "national_id") or None)
    code = _text(row, "product")
    if not code:
        raise RowError("product is required")
    product = products.find(code)
    currency = _text(row, "currency").upper() or product.currency
    if currency != product.currency:
        raise RowError(f"a {product.code} is lent in {product.currency}, not {currency}")
    onboarding.check_rail(borrower["country"], currency)
    principal = _amount(row, "principal", currency)
    if principal <= 0:
        raise RowError("principal must be positive")
    disbursed = _text(row, "disbursed_on")
    disbursed_on = parse_date(disbursed, "disbursed_on") if disbursed else None
    account_ref = normalize_account_ref(_text(row, "account_ref"))
    if len(account_ref) > 20:
        raise RowError("account_ref is longer than 20 characters")
    if ext in schedules:
        rows = _schedule_rows(schedules[ext], currency, principal)
    else:
        rows = _terms(row, product, principal, currency)
    record = Record(line, ext, borrower, product, principal, currency, disbursed_on, account_ref, rows,
                    _amount(row, "paid_to_date", currency))
    record.digest = hashlib.sha256(repr((ext, sorted(borrower.items()), product.code, principal, currency,
                                         disbursed_on, account_ref, [tuple(r.__dict__.values()) for r in rows],
                                         record.paid)).encode()).hexdigest()
    return record


def parse(session: Session, partner: FieldPartner, table: Table) -> tuple[list[Record], list[tuple[int, str]]]:
    """Every row checked: the good ones as records, the bad ones as (line, reason)."""
    errors: list[tuple[int, str]] = []
    products, schedules = _Products(session, partner), _schedules(table, errors)
    records: list[Record] = []
    seen: dict[str, int] = {}
    refs: dict[str, int] = {}
    for line, row in table.rows:
        try:
            record = _record(line, row, partner, products, table.kind, schedules)
        except (RowError, onboarding.OnboardingError, catalogue.ProductError, schedule.ScheduleError) as exc:
            errors.append((line, str(exc)))
            continue
        if record.external_id in seen:
            errors.append((line, f"external_id {record.external_id!r} is already on line {seen[record.external_id]}"))
            continue
        if record.account_ref and record.account_ref in refs:
            errors.append((line, f"account_ref {record.account_ref} is already on line {refs[record.account_ref]}"))
            continue
        seen[record.external_id] = line
        if record.account_ref:
            refs[record.account_ref] = line
        records.append(record)
    return records, errors


def plan(session: Session, partner: FieldPartner, records: list[Record]) -> list[tuple[int, str]]:
    """Read-only: which records are new, changed or unchanged, and which changes cannot be made
    (an account number another loan has; a changed loan paid through the gateway since its import)."""
    errors: list[tuple[int, str]] = []
    for start in range(0, len(records), CHUNK):
        chunk = records[start:start + CHUNK]
        known = {ext: (loan_id, digest) for ext, loan_id, digest in session.execute(
            select(ImportedLoan.external_id, ImportedLoan.loan_id, ImportedLoan.digest).where(
                ImportedLoan.field_partner_id == partner.id,
                ImportedLoan.external_id.in_([r.external_id for r in chunk])))}
        for r in chunk:
            if r.external_id in known:
                r.loan_id, digest = known[r.external_id]
                r.action = "unchanged" if digest == r.digest else "update"
        refs = {r.account_ref: r for r in chunk if r.account_ref}
        for ref, loan_id in session.execute(select(Loan.account_ref, Loan.id).where(Loan.account_ref.in_(list(refs)))):
            if refs[ref].loan_id != loan_id:
                errors.append((refs[ref].line, f"account_ref {ref} is already another loan's account number"))
        for r in chunk:
            if r.action == "update":
                problem = _update_problem(session, r)
                if problem:
                    errors.append((r.line, problem))
    return errors


def _update_problem(session: Session, r: Record) -> str:
    if _same_schedule(session, r.loan_id, r.rows) and import_paid(session, r.loan_id) == r.paid:
        return ""
    later = session.exec(select(LedgerEntry.id).where(LedgerEntry.loan_id == r.loan_id,
                                                      LedgerEntry.kind.not_in(IMPORT_KINDS))).first()
    if later:
        return (f"loan {r.external_id} has had payments through the gateway since it was imported: "
                "its schedule and paid to date are no longer the file's to change")
    surplus = session.exec(select(Installment.seq).join(LedgerEntry, LedgerEntry.installment_id == Installment.id)
                           .where(Installment.loan_id == r.loan_id, Installment.seq > len(r.rows))
                           .order_by(Installment.seq.desc())).first()
    if surplus:
        return f"loan {r.external_id}: installment {surplus} has had payments, so the schedule keeps at least {surplus}"
    return ""


def _same_schedule(session: Session, loan_id: int, rows: list[schedule.Row]) -> bool:
    have = session.execute(select(Installment.due_date, Installment.principal_due, Installment.interest_due,
                                  Installment.fees_due).where(Installment.loan_id == loan_id)
                           .order_by(Installment.seq)).all()
    return [tuple(h) for h in have] == [(r.due_date, r.principal, r.interest, r.fees) for r in rows]


def import_paid(session: Session, loan_id: int) -> int:
    """What the imports have allocated to the loan so far (net of what they undid)."""
    return int(session.execute(select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.loan_id == loan_id, LedgerEntry.kind.in_(IMPORT_KINDS))).scalar_one())


def borrower_ids(session: Session, partner: FieldPartner, phones: list[str]) -> dict[str, Borrower]:
    found: dict[str, Borrower] = {}
    for start in range(0, len(phones), CHUNK):
        for b in session.exec(select(Borrower).where(Borrower.field_partner_id == partner.id,
                                                     Borrower.phone.in_(phones[start:start + CHUNK]))):
            found[b.phone] = b
    return found


def run(session: Session, partner: FieldPartner, table: Table, *, actor: str, dry_run: bool = False,
        skip_bad_rows: bool = False) -> Report:
    """Check every row, then write (in the caller's transaction) unless a row is bad (and
    `skip_bad_rows` is not set) or this is a dry run. The report says what was (or would be) done."""
    from gateway.borrowers import importing_write

    with _no_cyclic_gc():
        return _run(session, partner, table, actor, dry_run, skip_bad_rows, importing_write)


@contextmanager
def _no_cyclic_gc():
    """The import makes millions of small, acyclic objects (rows, installments) that all live until
    the end: the cyclic collector would scan them again and again for nothing (a quarter of the CPU)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run(session, partner, table, actor, dry_run, skip_bad_rows, importing_write) -> Report:
    records, errors = parse(session, partner, table)
    errors += plan(session, partner, records)
    bad = {line for line, _ in errors}
    report = Report(errors=sorted(errors))
    records = [r for r in records if r.line not in bad]
    if dry_run or (errors and not skip_bad_rows):
        if errors and not skip_bad_rows:
            return report
        new = [r for r in records if r.action == "new"]
        report.new, report.updated = len(new), sum(r.action == "update" for r in records)
        report.unchanged = sum(r.action == "unchanged" for r in records)
        phones = sorted({r.borrower["phone"] for r in new})
        report.borrowers_new = len(phones) - len(borrower_ids(session, partner, phones))
        return report
    importing_write.write(session, partner, records, report, actor)
    report.written = True
    audit.record(session, actor, "portfolio.imported", "fieldpartner", partner.id, format=table.kind,
                 new=report.new, updated=report.updated, unchanged=report.unchanged,
                 borrowers_new=report.borrowers_new, bad_rows=len(report.errors))
    return report
