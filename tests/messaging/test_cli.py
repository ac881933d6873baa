"""`gateway messages` lists recent SMS in the borrower's local time with the phone masked; the
reminder planner is registered with RQ's cron scheduler every 15 minutes."""
import datetime as dt

import time_machine
from click.testing import CliRunner

from gateway.cli import main
from gateway.messaging import queue_sms
from tests.helpers import run_jobs


def test_messages_listing(at_server, factory, session):
    b = factory.borrower(language="en", phone="+254712345678")
    with time_machine.travel(dt.datetime(2026, 11, 25, 6, 5, tzinfo=dt.UTC), tick=False):
        queue_sms(session, b, "balance_none", kind="reply", lender="Jirani Finance", help_line="0800 720 000")
        session.commit()
    run_jobs()
    result = CliRunner().invoke(main, ["messages", "--limit", "5"])
    assert result.exit_code == 0, result.output
    header, line = result.output.splitlines()
    assert header.split() == ["when", "(local)", "phone", "kind", "template", "lang", "status", "text"]
    assert line.startswith("2026-11-25 09:05 EAT")  # 06:05 UTC in Nairobi
    assert "+254712***678" in line and "+254712345678" not in line
    assert line.split()[4:7] == ["reply", "balance_none", "en"] and " sent " in line


def test_messages_listing_when_empty(settings):
    result = CliRunner().invoke(main, ["messages"])
    assert result.exit_code == 0 and result.output == "no messages yet\n"


def test_planner_and_sweeper_run_from_rqs_cron(settings):
    from gateway import cron
    from gateway.queue import get_redis

    sched = cron.scheduler(get_redis())
    assert sorted((job.func_name, job.cron, job.queue_name) for job in sched.get_jobs()) == [
        ("gateway.workers.notify.notify_tick", "*/5 * * * *", "default"),
        ("gateway.workers.ops.daily_collections", "30 3 * * *", "default"),
        ("gateway.workers.ops.monthly_spot_checks", "0 4 1 * *", "default"),
        ("gateway.workers.reminders.plan_reminders", "*/15 * * * *", "default"),
        ("gateway.workers.sweeper.final_answers", "* * * * *", "default"),
        ("gateway.workers.sweeper.sweep", "* * * * *", "default"),
    ]


def test_the_at_standin_shows_each_sms_with_its_sender_id(settings):
    """`gateway at-standin` (as `gateway serve --stand-ins` runs it) prints what it is asked to send,
    with the sender id when there is one: whose SMS it is, on a gateway of several lenders."""
    import os
    import select
    import subprocess
    import sys

    import requests

    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "at-standin", "--port", "0"],
                            stdout=subprocess.PIPE, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    printed = b""

    def line() -> str:  # the next line it printed (waiting at most 30 s for it)
        nonlocal printed
        while b"\n" not in printed:
            assert select.select([proc.stdout], [], [], 30)[0], "the stand-in printed nothing"
            printed += os.read(proc.stdout.fileno(), 4096)
        first, printed = printed.split(b"\n", 1)
        return first.decode() + "\n"

    try:
        base = line().split(" on ", 1)[1].split()[0]
        for form in ({"username": "jirani", "to": "+254712345678", "message": "Jirani Finance: Tumepokea",
                      "from": "JIRANI"},
                     {"username": "jirani", "to": "+254712345678", "message": "Habari"}):
            assert requests.post(f"{base}/version1/messaging", data=form, timeout=10).status_code == 201
        assert line().split(" ", 1)[1] == "SMS from JIRANI to +254712345678: Jirani Finance: Tumepokea\n"
        assert line().split(" ", 1)[1] == "SMS to +254712345678: Habari\n"  # no sender id: AT's default
    finally:
        proc.terminate()
        proc.wait(timeout=10)
