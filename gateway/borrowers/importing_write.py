"""Writing a checked portfolio (importing.py): new loans in bulk (borrowers, loans, installments,
ledger entries, one statement per table and chunk, no ORM object per row), changed loans one by one."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import Date, func, text, update
from sqlmodel import Session, select

from gateway import audit
from gateway.borrowers.accounts import new_account_refs
from gateway.borrowers.importing import CHUNK, IMPORT_KINDS, Record, Report
from gateway.db import UTCDateTime, utcnow
from gateway.ledger import installment_status, spread
from gateway.models import (
    Borrower,
    FieldPartner,
    ImportedLoan,
    Installment,
    InstallmentStatus,
    LedgerEntry,
    Loan,
    LoanStatus,
)
from gateway.models.loans import COMPONENTS

_BORROWER_FIELDS = ("name", "language", "branch", "national_id")


class _Inst:
    """An installment being imported: what `ledger.spread` needs, without an ORM object."""

    __slots__ = ("id", "due_date", "principal_due", "interest_due", "fees_due", "principal_paid", "interest_paid",
                 "fees_paid", "status")

    def __init__(self, row):
        self.id = None
        self.due_date, self.principal_due, self.interest_due, self.fees_due = (row.due_date, row.principal,
                                                                               row.interest, row.fees)
        self.principal_paid = self.interest_paid = self.fees_paid = 0
        self.status = InstallmentStatus.pending

    @property
    def outstanding(self) -> int:
        return (self.principal_due + self.interest_due + self.fees_due
                - self.principal_paid - self.interest_paid - self.fees_paid)

    @property
    def amount_paid(self) -> int:
        return self.principal_paid + self.interest_paid + self.fees_paid

    def component_outstanding(self, component: str) -> int:
        return getattr(self, f"{component}_due") - getattr(self, f"{component}_paid")


def write(session: Session, partner: FieldPartner, records: list[Record], report: Report, actor: str) -> None:
    """Records planned by `importing.plan`, in the caller's transaction."""
    now = utcnow()
    phones = sorted({r.borrower["phone"] for r in records if r.action != "unchanged"})
    borrowers = _borrowers(session, partner, phones)
    fresh = [r for r in records if r.action == "new"]
    taken = {r.account_ref for r in records if r.account_ref}  # the file's own numbers are not to be drawn
    by_prefix: dict[str, list[Record]] = defaultdict(list)
    for r in fresh:
        if not r.account_ref:
            by_prefix[r.product.account_prefix].append(r)
    for prefix, group in by_prefix.items():
        for r, ref in zip(group, new_account_refs(session, prefix, len(group), taken), strict=True):
            r.account_ref = ref
    changed_borrowers: dict[int, dict] = {}
    for start in range(0, len(fresh), CHUNK):
        _insert_chunk(session, partner, fresh[start:start + CHUNK], borrowers, changed_borrowers, report, now)
    for r in records:
        if r.action == "update":
            _update(session, partner, r, borrowers, changed_borrowers, now, actor)
            report.updated += 1
        elif r.action == "unchanged":
            report.unchanged += 1
    if changed_borrowers:
        session.execute(update(Borrower), [dict(id=bid, **fields) for bid, fields in changed_borrowers.items()])
    report.new = len(fresh)
    session.flush()


def _borrowers(session: Session, partner: FieldPartner, phones: list[str]) -> dict[str, tuple]:
    """phone -> (id, name, language, branch, national_id) of the lender's borrowers with those phones."""
    found: dict[str, tuple] = {}
    for start in range(0, len(phones), CHUNK):
        columns = (Borrower.phone, Borrower.id, *(getattr(Borrower, f) for f in _BORROWER_FIELDS))
        for row in session.execute(select(*columns).where(Borrower.field_partner_id == partner.id,
                                          Borrower.phone.in_(phones[start:start + CHUNK]))):
            found[row[0]] = tuple(row[1:])
    return found


def _borrower_id(r: Record, borrowers: dict, changed: dict) -> int | None:
    """The borrower of this phone at this lender, its details brought up to the file's; None: a new one."""
    known = borrowers.get(r.borrower["phone"])
    if known is None:
        return None
    wanted = tuple(r.borrower[f] for f in _BORROWER_FIELDS)
    if known[1:] != wanted:
        changed[known[0]] = dict(zip(_BORROWER_FIELDS, wanted, strict=True))
        borrowers[r.borrower["phone"]] = (known[0], *wanted)
    return known[0]


def _insert_chunk(session, partner, chunk: list[Record], borrowers: dict, changed: dict, report: Report, now) -> None:
    new_people: dict[str, dict] = {}
    for r in chunk:
        if _borrower_id(r, borrowers, changed) is None and r.borrower["phone"] not in new_people:
            new_people[r.borrower["phone"]] = dict(r.borrower, field_partner_id=partner.id,
                                                   onboarded_by_agent_id=None, opted_out=False, created_at=now)
    if new_people:
        people = list(new_people.values())
        ids = _bulk(session, Borrower.__table__, people, ids=True)
        for person, bid in zip(people, ids, strict=True):
            borrowers[person["phone"]] = (bid, *(person[f] for f in _BORROWER_FIELDS))
        report.borrowers_new += len(people)
    schedules = []
    loans = []
    for r in chunk:
        insts = [_Inst(row) for row in r.rows]
        taken, credit = spread(insts, r.paid) if r.paid else ([], 0)
        schedules.append((insts, taken, credit))
        status = LoanStatus.repaid if all(i.status == InstallmentStatus.paid for i in insts) else LoanStatus.active
        loans.append(dict(borrower_id=borrowers[r.borrower["phone"]][0], product=r.product.code,
                          principal=r.principal, currency=r.currency, disbursed_on=r.disbursed_on, status=status,
                          account_ref=r.account_ref, created_at=now))
    loan_ids = _bulk(session, Loan.__table__, loans, ids=True)
    inst_rows, all_insts = [], []
    for loan_id, (insts, _, _) in zip(loan_ids, schedules, strict=True):
        for seq, i in enumerate(insts, start=1):
            all_insts.append(i)
            inst_rows.append(dict(loan_id=loan_id, seq=seq, due_date=i.due_date, principal_due=i.principal_due,
                                  interest_due=i.interest_due, fees_due=i.fees_due, principal_paid=i.principal_paid,
                                  interest_paid=i.interest_paid, fees_paid=i.fees_paid, status=i.status,
                                  effective_from=None))
    for i, iid in zip(all_insts, _bulk(session, Installment.__table__, inst_rows, ids=True), strict=True):
        i.id = iid
    entries = []
    for loan_id, (_, taken, credit) in zip(loan_ids, schedules, strict=True):
        entries.extend(_entry(loan_id, i.id, component, amount, "import", now) for i, component, amount in taken)
        if credit:
            entries.append(_entry(loan_id, None, "credit", credit, "import", now))
    _bulk(session, LedgerEntry.__table__, entries)
    _bulk(session, ImportedLoan.__table__, [
        dict(field_partner_id=partner.id, external_id=r.external_id, loan_id=loan_id, digest=r.digest,
             imported_at=now, updated_at=None) for r, loan_id in zip(chunk, loan_ids, strict=True)])


def _bulk(session: Session, table, rows: list[dict], ids: bool = False) -> list[int]:
    """Insert `rows` into `table` at the speed the database allows: PostgreSQL by COPY (ids drawn from
    the table's sequence), SQLite by one executemany (ids after the largest: its writers are serialised).
    Returns the new ids, in order, when asked."""
    if not rows:
        return []
    postgres = session.get_bind().dialect.name == "postgresql"
    new_ids: list[int] = []
    if ids:
        if postgres:
            draw = text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)")
            new_ids = list(session.execute(draw, dict(t=table.name, n=len(rows))).scalars())
        else:
            start = session.execute(select(func.max(table.c.id))).scalar() or 0
            new_ids = list(range(start + 1, start + 1 + len(rows)))
        for row, new_id in zip(rows, new_ids, strict=True):
            row["id"] = new_id
    columns = list(rows[0])
    naive = [k for k in columns if isinstance(table.c[k].type, UTCDateTime)]
    for row in rows:
        for k in naive:  # the column holds naive UTC, as UTCDateTime stores it
            if row[k] is not None:
                row[k] = row[k].astimezone(dt.UTC).replace(tzinfo=None)
    driver = session.connection().connection.driver_connection
    if not postgres:  # the text SQLAlchemy's SQLite types store: ISO dates, "YYYY-MM-DD HH:MM:SS.ffffff"
        text_of = {k for k in columns if isinstance(table.c[k].type, (UTCDateTime, Date))}
        driver.executemany(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                           [[_sqlite(row[c]) if c in text_of else row[c] for c in columns] for row in rows])
        return new_ids
    cursor = driver.cursor()
    with cursor, cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])
    return new_ids


def _sqlite(value):
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value.isoformat() if isinstance(value, dt.date) else value


def _entry(loan_id, installment_id, component, amount, kind, now) -> dict:
    return dict(loan_id=loan_id, payment_id=None, installment_id=installment_id, component=component,
                amount=amount, kind=kind, created_at=now)


def _update(session: Session, partner: FieldPartner, r: Record, borrowers: dict, changed: dict, now,
            actor: str) -> None:
    """A loan whose row changed: its borrower's details, the loan's fields, and (when they differ) its
    schedule and paid to date, re-laid: earlier import allocations undone by opposite entries, the
    new paid to date allocated again (`importing.plan` refused this for a loan paid through the gateway)."""
    from gateway.borrowers import importing

    loan = session.get(Loan, r.loan_id)
    bid = _borrower_id(r, borrowers, changed)
    if bid is None:
        person = Borrower(**r.borrower, field_partner_id=partner.id)
        session.add(person)
        session.flush()
        bid = person.id
        borrowers[person.phone] = (bid, *(r.borrower[f] for f in _BORROWER_FIELDS))
    loan.borrower_id, loan.product, loan.principal = bid, r.product.code, r.principal
    loan.currency, loan.disbursed_on = r.currency, r.disbursed_on
    if r.account_ref:
        loan.account_ref = r.account_ref
    if not (importing._same_schedule(session, loan.id, r.rows) and importing.import_paid(session, loan.id) == r.paid):
        _relay(session, loan, r, now)
    record = session.exec(select(ImportedLoan).where(ImportedLoan.loan_id == loan.id)).one()
    record.digest, record.updated_at = r.digest, now
    session.add_all([loan, record])
    audit.record(session, actor, "loan.import_updated", "loan", loan.id, external_id=r.external_id, line=r.line)


def _relay(session: Session, loan: Loan, r: Record, now) -> None:
    entries = session.exec(select(LedgerEntry).where(LedgerEntry.loan_id == loan.id,
                                                     LedgerEntry.kind.in_(IMPORT_KINDS))).all()
    net: dict[tuple, int] = defaultdict(int)
    for e in entries:
        net[(e.installment_id, e.component)] += e.amount
    undo = [_entry(loan.id, iid, component, -amount, "import-undo", now)
            for (iid, component), amount in sorted(net.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1])) if amount]
    insts = {i.seq: i for i in session.exec(select(Installment).where(Installment.loan_id == loan.id))}
    for seq, row in enumerate(r.rows, start=1):
        inst = insts.pop(seq, None) or Installment(loan_id=loan.id, seq=seq, due_date=row.due_date)
        inst.due_date, inst.principal_due, inst.interest_due, inst.fees_due = (row.due_date, row.principal,
                                                                               row.interest, row.fees)
        for component in COMPONENTS:
            setattr(inst, f"{component}_paid", 0)
        inst.status = installment_status(inst)
        session.add(inst)
    for surplus in insts.values():  # no payment ever touched them (plan checked): they go
        session.delete(surplus)
    session.flush()
    ordered = list(session.exec(select(Installment).where(Installment.loan_id == loan.id)
                                .order_by(Installment.due_date, Installment.seq)))
    taken, credit = spread(ordered, r.paid) if r.paid else ([], 0)
    session.add_all(ordered)
    fresh = [_entry(loan.id, i.id, component, amount, "import", now) for i, component, amount in taken]
    if credit:
        fresh.append(_entry(loan.id, None, "credit", credit, "import", now))
    if undo or fresh:
        _bulk(session, LedgerEntry.__table__, undo + fresh)
    if loan.status in (LoanStatus.active, LoanStatus.repaid):
        done = all(i.status == InstallmentStatus.paid for i in ordered)
        loan.status = LoanStatus.repaid if done else LoanStatus.active
