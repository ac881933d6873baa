"""Issue 12 items 6, 12, 13: the operator CLI answers bad input with one line and exit code 2,
never a traceback; statements are read from CSV and XLSX, with the account in either spelling."""
import datetime as dt

import openpyxl
import pytest
from click.testing import CliRunner
from sqlmodel import select

from gateway.cli import main
from gateway.models import Flag, Payment, Promise
from tests.helpers import run_payment_jobs


def one_line_error(result, text):
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert text in lines[0], lines[0]


def test_ops_daily_refuses_a_future_date_and_changes_nothing(session, factory):
    factory.loan(factory.borrower(), principal="1000", count=1, rate="0", first_due=dt.date(2026, 11, 1))
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    one_line_error(CliRunner().invoke(main, ["ops-daily", "--date", tomorrow]), "is in the future")
    assert session.exec(select(Flag)).all() == [] and session.exec(select(Promise)).all() == []


@pytest.mark.parametrize("args,text", [
    (["ops-daily", "--date", "bad"], "--date must be a date YYYY-MM-DD"),
    (["messages", "--phone", "abc"], "not a phone number"),
    (["messages", "--limit", "0"], "--limit must be at least 1"),
    (["report", "collections", "--month", "2026-11", "-o", "/nonexistent/x.xlsx"], "cannot write /nonexistent/x.xlsx"),
    (["report", "collections", "--month", "11-2026", "-o", "-"], "month must look like"),
])
def test_bad_input_is_one_line_and_exit_code_2(session, factory, args, text):
    one_line_error(CliRunner().invoke(main, args), text)


def test_report_to_standard_output(session, factory, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["report", "collections", "--month", "2026-11", "-o", "-"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("period,branch,")  # the CSV itself, not "written to -"
    assert not (tmp_path / "-").exists()


HEADER = ["Receipt No.", "Completion Time", "Initiation Time", "Details", "Transaction Status", "Paid In",
          "Withdrawn", "Balance", "Other Party Info"]


def statement_rows(ref):
    return [["RKX1STMT01", "2026-11-21 12:13:25", "2026-11-21 12:13:25",
             f"Pay Bill from 254708374149 - JOHN DOE Account Number {ref}", "Completed", "500.00", "", "25500.00",
             "254708374149 - JOHN DOE"]]


def test_an_xlsx_statement_is_imported_and_the_account_number_is_read(factory, session, pay_client,  # noqa: F811
                                                                       tmp_path):
    loan = factory.loan(factory.borrower())
    book = openpyxl.Workbook()
    book.active.append(["Account Holder:", "Jirani Finance"])
    book.active.append(HEADER)
    for row in statement_rows(loan.account_ref):
        book.active.append(row)
    path = tmp_path / "statement.xlsx"
    book.save(path)
    for command in (["payments", "import"], ["payments", "import-csv"]):
        result = CliRunner().invoke(main, [*command, str(path)])
        assert result.exit_code == 0, result.output
    run_payment_jobs()
    (payment,) = session.exec(select(Payment)).all()
    assert (payment.amount, payment.status, payment.loan_id) == (50000, "posted", loan.id)


def test_a_csv_statement_with_account_number_in_details_posts_to_the_loan(factory, session, pay_client,  # noqa: F811
                                                                           tmp_path):
    loan = factory.loan(factory.borrower())
    path = tmp_path / "statement.csv"
    path.write_text("\n".join(",".join(r) for r in [HEADER, *statement_rows(loan.account_ref)]) + "\n")
    result = CliRunner().invoke(main, ["payments", "import", str(path)])
    assert "imported 1" in result.output and result.exit_code == 0
    run_payment_jobs()
    (payment,) = session.exec(select(Payment)).all()
    assert (payment.status, payment.loan_id) == ("posted", loan.id)


def test_a_file_that_is_no_statement_is_one_line(session, tmp_path):
    path = tmp_path / "photo.xlsx"
    path.write_bytes(b"\x89PNG not a workbook")
    one_line_error(CliRunner().invoke(main, ["payments", "import", str(path)]), "not a readable XLSX")


def test_serve_waits_for_the_stand_ins_to_answer_before_starting_the_worker():
    """`gateway serve --stand-ins`: the first demo SMS went out before the AT stand-in listened."""
    import socket
    import threading

    from gateway import serve

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    assert serve.wait_until_answering([port], timeout=0.3) is False  # nobody there yet

    def listen_later():
        threading.Event().wait(0.5)
        server.listen()

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    thread = threading.Thread(target=listen_later)
    thread.start()
    try:
        assert serve.wait_until_answering([port], timeout=10) is True
    finally:
        thread.join()
        server.close()


@pytest.mark.parametrize("command", [["payments", "stand-in"], ["at-standin"]])
def test_a_stand_in_on_a_port_in_use_says_so_in_one_line(settings, command):
    import socket

    with socket.socket() as taken:  # as `make run`'s own stand-in holds 8089 and 8090
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, [*command, "--port", str(port)])
    one_line_error(result, f"cannot listen on port {port} (Address already in use): is `gateway serve --stand-ins`")
