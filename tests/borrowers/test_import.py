"""`gateway portfolio import`: a lender's existing loans, from our template, XLSX or a Fineract export."""
import csv
import datetime as dt
import io
from pathlib import Path

import openpyxl
import pytest
import time_machine
from click.testing import CliRunner
from sqlmodel import func, select

from gateway import ledger
from gateway.borrowers import catalogue, onboarding
from gateway.cli import main
from gateway.lenders import partners
from gateway.models import Borrower, FieldPartner, ImportedLoan, Installment, LedgerEntry, Loan, Message, Reminder
from tests.helpers import at_local, pay, plan_reminders, read

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "docs" / "portfolio_template.csv"
FINERACT = Path(__file__).with_name("fineract_loans.csv")
TODAY = dt.date(2026, 11, 20)  # the frozen clock's day in Nairobi

pytestmark = pytest.mark.usefixtures("frozen_clock")


def run(*args):
    return CliRunner().invoke(main, ["portfolio", "import", *map(str, args)], catch_exceptions=False)


def count(session, model) -> int:
    session.commit()
    return session.exec(select(func.count()).select_from(model)).one()


def loan_of(session, external_id, partner_id=None) -> Loan:
    query = select(Loan).join(ImportedLoan, ImportedLoan.loan_id == Loan.id).where(
        ImportedLoan.external_id == external_id)
    if partner_id:
        query = query.where(ImportedLoan.field_partner_id == partner_id)
    return read(session, query)[0]


def snapshot(session) -> list:
    return [(e.loan_id, e.installment_id, e.component, e.amount, e.kind)
            for e in read(session, select(LedgerEntry).order_by(LedgerEntry.id))]


def rows_of(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_the_template_imports_borrowers_loans_arrears_and_ledger(factory, session):
    result = run(TEMPLATE, "--partner", "Jirani Finance")
    assert result.exit_code == 0, result.output + result.stderr
    assert "imported: 3 new loans (3 new borrowers), 0 updated, 0 unchanged; 0 bad rows" in result.output
    amina = loan_of(session, "JF-1001")
    borrower = session.get(Borrower, amina.borrower_id)
    assert (borrower.name, borrower.phone, borrower.language, borrower.branch, borrower.national_id) == (
        "Amina Wanjiru", "+254712345678", "sw", "Thika", "23456789")
    assert amina.account_ref.startswith("BIZ") and amina.principal == 2_000_000 and amina.status == "active"
    # 4 x (5,000 + 600 interest) monthly from 1 Sep; 10,000 paid: the first in full, 4,400 of the second
    insts = read(session, select(Installment).where(Installment.loan_id == amina.id).order_by(Installment.seq))
    assert [(i.interest_paid, i.principal_paid, i.status) for i in insts] == [
        (60000, 500000, "paid"), (60000, 380000, "partial"), (0, 0, "pending"), (0, 0, "pending")]
    bal = ledger.balance(session, amina, TODAY)
    assert (bal.arrears, bal.overdue_since, bal.next_due_date) == (680000, dt.date(2026, 10, 1), dt.date(2026, 12, 1))
    entries = read(session, select(LedgerEntry).where(LedgerEntry.loan_id == amina.id).order_by(LedgerEntry.id))
    assert [(e.component, e.amount, e.kind, e.payment_id) for e in entries] == [
        ("interest", 60000, "import", None), ("principal", 500000, "import", None),
        ("interest", 60000, "import", None), ("principal", 380000, "import", None)]
    solar = loan_of(session, "JF-1002")
    assert solar.account_ref.startswith("SOL") and ledger.balance(session, solar, TODAY).arrears == 400000
    grace = loan_of(session, "JF-1003")
    assert (grace.account_ref, grace.status, ledger.balance(session, grace, TODAY).outstanding) == (
        "BIZ900100", "repaid", 0)
    assert count(session, Message) == 0  # existing customers: no welcome, no reminder at import


def test_the_same_file_twice_changes_nothing(factory, session):
    assert run(TEMPLATE, "--partner", "Jirani Finance").exit_code == 0
    before = (snapshot(session), [(lo.id, lo.account_ref, lo.status) for lo in read(session, select(Loan))],
              count(session, Borrower), count(session, Installment))
    again = run(TEMPLATE, "--partner", "Jirani Finance")
    assert again.exit_code == 0
    assert "imported: 0 new loans (0 new borrowers), 0 updated, 3 unchanged; 0 bad rows" in again.output
    assert before == (snapshot(session), [(lo.id, lo.account_ref, lo.status) for lo in read(session, select(Loan))],
                      count(session, Borrower), count(session, Installment))


def test_an_updated_row_updates_its_borrower_and_loan(factory, session, tmp_path):
    assert run(TEMPLATE, "--partner", "Jirani Finance").exit_code == 0
    rows = rows_of(TEMPLATE)
    rows[0].update(name="Amina W. Njoroge", paid_to_date="15600")  # another month paid since the first export
    result = run(write_csv(tmp_path / "v2.csv", rows), "--partner", "Jirani Finance")
    assert "imported: 0 new loans (0 new borrowers), 1 updated, 2 unchanged; 0 bad rows" in result.output
    amina = loan_of(session, "JF-1001")
    assert session.get(Borrower, amina.borrower_id).name == "Amina W. Njoroge"
    bal = ledger.balance(session, amina, TODAY)
    assert (bal.arrears, bal.overdue_since) == (120000, dt.date(2026, 11, 1))
    entries = read(session, select(LedgerEntry).where(LedgerEntry.loan_id == amina.id))
    assert sum(e.amount for e in entries) == 1_560_000  # the earlier allocation undone, not deleted
    assert {e.kind for e in entries} == {"import", "import-undo"}
    assert count(session, Loan) == 3 and count(session, Borrower) == 3


def test_a_file_with_bad_rows_imports_nothing_and_names_each(factory, session, tmp_path):
    rows = rows_of(TEMPLATE)
    good = dict(rows[0])
    lines = [dict(good, external_id=f"JF-20{k}", phone=f"07120000{k:02d}") for k in range(6)]  # lines 2-7
    lines[1]["phone"] = "020 2222222"  # line 3: a Nairobi landline
    lines[5]["product"] = "boat loan"  # line 7
    bad = write_csv(tmp_path / "bad.csv", lines)
    result = run(bad, "--partner", "Jirani Finance")
    assert result.exit_code == 1
    assert "line 3: phone +254202***222 is not a mobile number" in result.stderr
    assert "line 7: unknown product 'boat loan': the products are 'business loan', 'solar home system'" in result.stderr
    assert "2 bad rows: nothing imported" in result.stderr
    assert count(session, Loan) == 0 and count(session, Borrower) == 0 and count(session, LedgerEntry) == 0
    skipping = run(bad, "--partner", "Jirani Finance", "--skip-bad-rows")
    assert skipping.exit_code == 1 and "imported: 4 new loans" in skipping.output
    assert count(session, Loan) == 4


def test_a_dry_run_writes_nothing(factory, session):
    result = run(TEMPLATE, "--partner", "Jirani Finance", "--dry-run")
    assert result.exit_code == 0
    assert "dry run: would import: 3 new loans (3 new borrowers), 0 updated, 0 unchanged" in result.output
    assert count(session, Loan) == 0 and count(session, Borrower) == 0 and count(session, ImportedLoan) == 0


def test_xlsx_imports_as_the_csv_does(factory, session, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    rows = rows_of(TEMPLATE)
    sheet.append(list(rows[0]))
    for row in rows:  # as a spreadsheet holds them: dates as dates, numbers as numbers
        sheet.append([dt.datetime.fromisoformat(v) if k in ("disbursed_on", "first_due_date") else
                      (int(v) if v.isdigit() and k != "national_id" else v) for k, v in row.items()])
    book.save(tmp_path / "portfolio.xlsx")
    assert run(tmp_path / "portfolio.xlsx", "--partner", "Jirani Finance").exit_code == 0
    same = run(TEMPLATE, "--partner", "Jirani Finance")
    assert "0 new loans (0 new borrowers), 0 updated, 3 unchanged" in same.output


def test_a_schedule_given_row_by_row(factory, session, tmp_path):
    rows = rows_of(TEMPLATE)[:1]
    rows[0].update(installments="", first_due_date="", paid_to_date="7000")
    loans = write_csv(tmp_path / "loans.csv", rows)
    sched = write_csv(tmp_path / "schedules.csv", [
        dict(external_id="JF-1001", due_date="2026-10-15", principal="12000", interest="1000", fees="50"),
        dict(external_id="JF-1001", due_date="2026-12-15", principal="8000", interest="1000", fees="50")])
    result = run(loans, "--partner", "Jirani Finance", "--schedules", sched)
    assert result.exit_code == 0, result.stderr
    amina = loan_of(session, "JF-1001")
    bal = ledger.balance(session, amina, TODAY)
    assert (bal.arrears, bal.outstanding) == (605000, 1_510_000)


def test_a_fineract_export_imports(factory, session):
    result = run(FINERACT, "--partner", "Jirani Finance")
    assert result.exit_code == 0, result.stderr
    wanjiku = loan_of(session, "FN-000123")
    borrower = session.get(Borrower, wanjiku.borrower_id)
    assert (borrower.name, borrower.phone, borrower.branch, borrower.national_id, borrower.language) == (
        "Wanjiku Kamau", "+254711222333", "Head Office", "27118899", "sw")
    assert (wanjiku.product, wanjiku.disbursed_on, wanjiku.principal) == (
        "business loan", dt.date(2026, 8, 1), 3_000_000)
    # 2% a month flat: 600 interest on each of 6 monthly installments; 12,000 repaid
    assert ledger.balance(session, wanjiku, TODAY).arrears == 480000
    kiprono = loan_of(session, "FN-000124")
    insts = read(session, select(Installment).where(Installment.loan_id == kiprono.id).order_by(Installment.seq))
    assert [(i.due_date, i.principal_due, i.interest_due) for i in insts][:2] == [
        (dt.date(2026, 10, 8), 250000, 4600), (dt.date(2026, 10, 15), 250000, 4600)]  # 24% a year, weekly


def _second_lender(session) -> FieldPartner:
    other = partners.add(session, "Bahari Credit", "test", help_line="0800 111 222")
    catalogue.seed(session, other)
    session.commit()
    return other


def test_a_borrower_of_another_lender_is_a_new_borrower_here(factory, session):
    other = _second_lender(session)
    onboarding.create_borrower(session, other, "Amina Wanjiru", "0712 345 678", "en")
    session.commit()
    assert run(TEMPLATE, "--partner", "Jirani Finance").exit_code == 0
    both = read(session, select(Borrower).where(Borrower.phone == "+254712345678"))
    assert sorted(b.field_partner_id for b in both) == sorted([factory.partner.id, other.id])
    assert session.get(Borrower, loan_of(session, "JF-1001").borrower_id).field_partner_id == factory.partner.id


def test_a_borrower_already_at_this_lender_gets_the_loan(factory, session):
    known = factory.borrower(name="Amina Wanjiru", phone="+254712345678")
    assert run(TEMPLATE, "--partner", "Jirani Finance").exit_code == 0
    assert loan_of(session, "JF-1001").borrower_id == known.id
    assert count(session, Borrower) == 3


def test_external_ids_are_per_lender(factory, session, tmp_path):
    other = _second_lender(session)
    assert run(TEMPLATE, "--partner", "Jirani Finance").exit_code == 0
    rows = [dict(r, account_ref="") for r in rows_of(TEMPLATE)]  # an account number is the paybill's, once
    result = run(write_csv(tmp_path / "bahari.csv", rows), "--partner", "Bahari Credit")
    assert "imported: 3 new loans (3 new borrowers)" in result.output
    assert loan_of(session, "JF-1001", other.id).id != loan_of(session, "JF-1001", factory.partner.id).id
    assert count(session, ImportedLoan) == 6


def test_an_unknown_lender_or_unreadable_file_is_one_line(factory, tmp_path):
    result = run(TEMPLATE, "--partner", "Nobody")
    assert result.exit_code == 2 and "no lender named 'Nobody'" in result.stderr
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    junk = tmp_path / "junk.csv"
    junk.write_text("a,b\n1,2\n")
    result = run(junk, "--partner", "Jirani Finance")
    assert result.exit_code == 2 and "lacks the columns external_id, name, phone, product, principal" in result.stderr


def test_a_changed_schedule_is_laid_again_and_the_ledger_still_balances(factory, session, tmp_path):
    assert run(TEMPLATE, "--partner", "Jirani Finance").exit_code == 0
    rows = rows_of(TEMPLATE)
    rows[0].update(installments="2", first_due_date="2026-10-01")  # rescheduled: 2 x (10,000 + 600)
    result = run(write_csv(tmp_path / "v2.csv", rows), "--partner", "Jirani Finance")
    assert "1 updated, 2 unchanged" in result.output, result.stderr
    amina = loan_of(session, "JF-1001")
    insts = read(session, select(Installment).where(Installment.loan_id == amina.id).order_by(Installment.seq))
    assert [(i.due_date, i.principal_due, i.principal_paid, i.interest_paid) for i in insts] == [
        (dt.date(2026, 10, 1), 1_000_000, 940000, 60000), (dt.date(2026, 11, 1), 1_000_000, 0, 0)]
    assert ledger.balance(session, amina, TODAY).arrears == 1_120_000
    assert sum(e.amount for e in read(session, select(LedgerEntry).where(LedgerEntry.loan_id == amina.id))) == 1_000_000


def test_a_loan_paid_through_the_gateway_keeps_its_schedule(factory, session, tmp_path):
    assert run(TEMPLATE, "--partner", "Jirani Finance").exit_code == 0
    pay(session, loan_of(session, "JF-1001"), 120000, "RKT0000001")
    rows = rows_of(TEMPLATE)
    rows[0].update(paid_to_date="11200")
    result = run(write_csv(tmp_path / "v2.csv", rows), "--partner", "Jirani Finance")
    assert result.exit_code == 1
    assert ("line 2: loan JF-1001 has had payments through the gateway since it was imported: its schedule and "
            "paid to date are no longer the file's to change") in result.stderr
    rows[0].update(paid_to_date="10000", branch="Ruiru")  # its borrower's details may still change
    assert "1 updated" in run(write_csv(tmp_path / "v3.csv", rows), "--partner", "Jirani Finance").output
    assert session.get(Borrower, loan_of(session, "JF-1001").borrower_id).branch == "Ruiru"


def test_rows_that_repeat_an_id_or_an_account_number_are_bad(factory, session, tmp_path):
    rows = rows_of(TEMPLATE)
    rows.append(dict(rows[0], phone="0712 999 888"))  # line 5: JF-1001 again
    rows.append(dict(rows[2], external_id="JF-1009"))  # line 6: BIZ900100 again
    result = run(write_csv(tmp_path / "dup.csv", rows), "--partner", "Jirani Finance")
    assert "line 5: external_id 'JF-1001' is already on line 2" in result.stderr
    assert "line 6: account_ref BIZ900100 is already on line 4" in result.stderr
    assert count(session, Loan) == 0


def test_fineract_rows_we_cannot_serve_are_bad(factory, session, tmp_path):
    lines = FINERACT.read_text().splitlines()
    lines[1] = lines[1].replace("Individual", "Group", 1)
    lines[2] = lines[2].replace(",1,Weeks,", ",2,Weeks,", 1)
    bad = tmp_path / "fineract.csv"
    bad.write_text("\n".join(lines) + "\n")
    result = run(bad, "--partner", "Jirani Finance")
    assert "line 2: Loan Type 'Group': only individual loans are imported" in result.stderr
    assert "line 3: repaid every 2 Weeks: only every 1 Weeks or every 1 Months is served" in result.stderr


def test_the_planner_reminds_imported_loans_from_the_first_day(factory, session):
    assert run(TEMPLATE, "--partner", "Jirani Finance").exit_code == 0
    plan_reminders()  # 20 Nov: the solar loan's weekly installment of 19 Nov is a day late
    with time_machine.travel(at_local(dt.date(2026, 11, 28), 10), tick=False):
        plan_reminders()  # 28 Nov: Amina's installment of 1 Dec is 3 days ahead
    steps = {(loan_id, step) for loan_id, step in session.execute(select(Reminder.loan_id, Reminder.step)).all()}
    assert (loan_of(session, "JF-1001").id, "D-3") in steps
    assert loan_of(session, "JF-1002").id in {loan_id for loan_id, _ in steps}
    assert loan_of(session, "JF-1003").id not in {loan_id for loan_id, _ in steps}  # repaid before it came


def test_an_xlsx_workbook_carries_its_schedules_in_a_sheet(factory, session, tmp_path):
    book = openpyxl.Workbook()
    loans = book.active
    loans.title = "loans"
    loans.append(["external_id", "name", "phone", "product", "principal", "paid_to_date"])
    loans.append(["JF-3001", "Zawadi Mutua", 712345678, "business loan", 20000, 500])
    sched = book.create_sheet("schedules")
    sched.append(["external_id", "due_date", "principal", "interest", "fees"])
    sched.append(["JF-3001", dt.datetime(2026, 12, 5), 20000, 1500, 0])
    sched.append(["JF-3001", "not a day", 0, 0, 0])
    book.save(tmp_path / "p.xlsx")
    result = run(tmp_path / "p.xlsx", "--partner", "Jirani Finance")
    assert "line 2: schedules line 3: due_date 'not a day' is not a date (YYYY-MM-DD)" in result.stderr
    sched.delete_rows(3)
    book.save(tmp_path / "p.xlsx")
    assert run(tmp_path / "p.xlsx", "--partner", "Jirani Finance").exit_code == 0
    loan = loan_of(session, "JF-3001")
    assert session.get(Borrower, loan.borrower_id).phone == "+254712345678"
    assert ledger.balance(session, loan, TODAY).next_due_amount == 2_100_000


def test_a_nul_character_in_a_cell_is_a_bad_row(factory, session, tmp_path):
    """PostgreSQL text cannot hold NUL: a name or branch with one stopped the import with a traceback there."""
    rows = rows_of(TEMPLATE)
    nul = write_csv(tmp_path / "nul.csv", [dict(rows[0], name="Amina\x00Wanjiru"),
                                           dict(rows[1], branch="Nak\x00uru")])
    result = run(nul, "--partner", "Jirani Finance")
    assert result.exit_code == 1, result.output
    assert "line 2: name must not contain NUL characters" in result.stderr
    assert "line 3: branch must not contain NUL characters" in result.stderr
    assert count(session, Loan) == 0
