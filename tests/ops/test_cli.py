"""The ops commands: set a console password, run the daily housekeeping."""
import datetime as dt
import zipfile

import time_machine
from click.testing import CliRunner
from sqlmodel import select
from werkzeug.security import check_password_hash

from gateway.cli import main
from gateway.models import Agent, AuditEvent, Flag


def test_set_password_hashes_it_and_refuses_short_ones(session, factory):
    agent = Agent(name="Moses", phone="+254700100004", role="manager", field_partner_id=factory.partner.id)
    session.add(agent)
    session.commit()
    short = CliRunner().invoke(main, ["set-password", "0700100004"], input="short\nshort\n")
    assert short.exit_code == 2 and "at least 10 characters" in short.output
    missing = CliRunner().invoke(main, ["set-password", "0700999999"], input="long enough pw\nlong enough pw\n")
    assert missing.exit_code == 2 and "no staff member with phone 0700999999" in missing.output
    ok = CliRunner().invoke(main, ["set-password", "0700100004"], input="long enough pw\nlong enough pw\n")
    assert ok.exit_code == 0 and "password set for Moses (manager)" in ok.output
    session.expire_all()
    stored = session.get(Agent, agent.id).password_hash
    assert "long enough pw" not in stored and check_password_hash(stored, "long enough pw")
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "agent.password_set")).one()


def test_ops_daily_raises_flags_once(session, factory):
    factory.loan(factory.borrower(), principal="1000", count=1, rate="0", first_due=dt.date(2026, 11, 1))
    with time_machine.travel(dt.datetime(2027, 3, 1, 12, tzinfo=dt.UTC), tick=False):  # a future date is refused
        first = CliRunner().invoke(main, ["ops-daily", "--date", "2027-03-01"])
        again = CliRunner().invoke(main, ["ops-daily", "--date", "2027-03-01"])
    assert first.output == "2027-03-01: 0 promises evaluated, 1 flags raised\n"
    assert again.output == "2027-03-01: 0 promises evaluated, 0 flags raised\n"
    assert len(session.exec(select(Flag)).all()) == 1


def test_daily_collections_is_scheduled_with_rqs_cron(settings):
    from gateway import cron
    from gateway.queue import get_redis

    jobs = {j.func_name: (j.cron, j.queue_name) for j in cron.scheduler(get_redis()).get_jobs()}
    assert jobs["gateway.workers.ops.daily_collections"] == ("30 3 * * *", "default")


def test_report_writes_the_format_its_file_name_says(settings, tmp_path):
    sheet = tmp_path / "pursuit.xlsx"
    written = CliRunner().invoke(main, ["report", "pursuit-cost", "--month", "2026-11", "-o", str(sheet)])
    assert written.exit_code == 0, written.output
    assert zipfile.is_zipfile(sheet)  # an XLSX workbook, not CSV text under an .xlsx name
    to_csv = CliRunner().invoke(main, ["report", "pursuit-cost", "--month", "2026-11", "-o", str(tmp_path / "p.csv")])
    assert to_csv.exit_code == 0 and (tmp_path / "p.csv").read_text().startswith("month,branch,agent,currency")
    stdout = CliRunner().invoke(main, ["report", "pursuit-cost", "--month", "2026-11", "-o", "-"])
    assert stdout.output.startswith("month,branch,agent,currency")
    clash = CliRunner().invoke(main, ["report", "pursuit-cost", "--month", "2026-11", "--format", "csv",
                                      "-o", str(tmp_path / "other.xlsx")])
    assert clash.exit_code == 2 and "--format csv does not match the file name" in clash.output
    assert not (tmp_path / "other.xlsx").exists()
