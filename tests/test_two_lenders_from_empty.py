"""Issue 13's "done when", as a newcomer would do it: the README's section "Two lenders from an empty
database", command for command. The commands are read from the README's fenced blocks, so the README
and this test cannot drift apart: `gateway ...` runs the real command (click's runner, in this
process), `curl ...` sends the same method, path, headers and body to the app's test client, the
`serve --stand-ins` line builds the app with the environment `gateway serve --stand-ins` gives it (the
Africa's Talking stand-in is the `at_server` fixture), and the worker `serve` runs is a burst worker
after each request. A token a command printed fills the line that says to paste it.

On SQLite the database is a new file (the README's, in the test's instance folder), so `init-db`
builds it from nothing; on PostgreSQL it is the test database, emptied."""
from __future__ import annotations

import datetime as dt
import json
import re
import shlex
from pathlib import Path

import pytest
import time_machine
from click.testing import CliRunner

from gateway.app import create_app
from gateway.cli import main
from gateway.config import Settings
from gateway.serve import stand_in_commands
from tests.helpers import run_jobs, run_payment_jobs

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Two lenders from an empty database"
PASTE = "paste-the-token-printed-above"
SERVER = "http://127.0.0.1:5000"
WHEN = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)  # 12:00 in Nairobi, the day of the README's payments
AMINA = "+254712345678"


def readme_commands() -> list[list[str]]:
    """Each command of the section's ```bash blocks, as the shell would split it (continuation lines
    joined, quotes spanning lines kept whole, comments dropped; `$VAR` left for the walk to fill)."""
    section = README.read_text().split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", section, re.S | re.M):
        pending = ""
        for line in block.replace("\\\n", " ").splitlines(keepends=True):
            pending += line
            try:
                argv = shlex.split(pending, comments=True)
            except ValueError:  # a quote still open: the command goes on on the next line
                continue
            if argv:
                commands.append(argv)
            pending = ""
        assert not pending, f"unclosed quote in the README: {pending!r}"
    return commands


class Walk:
    """Runs the README's commands one by one, as the two terminals of the section would."""

    def __init__(self, monkeypatch, settings: Settings, database_url: str):
        self.monkeypatch, self.settings, self.test_database_url = monkeypatch, settings, database_url
        self.shell: dict[str, str] = {}  # the shell's variables: DATABASE_URL, the pasted tokens
        self.printed_token = ""
        self.server_env: dict[str, str] = {}
        self.client = None
        self.seen: list[tuple[list[str], str]] = []  # (command, what the user saw)

    def run(self, argv: list[str]) -> None:
        assignments = []
        while argv and re.fullmatch(r"\w+=.*", argv[0], re.S):
            assignments.append(argv.pop(0))
        if argv[:1] == ["export"]:
            assignments, argv = assignments + argv[1:], []
        if argv[:1] == ["."]:
            assert argv == [".", ".venv/bin/activate"], argv  # the test runs inside that virtualenv
            return
        if not argv:  # VAR=VALUE: set in the shell
            for assignment in assignments:
                self.assign(*assignment.split("=", 1))
            return
        for assignment in assignments:  # VAR=VALUE command: for that command only; here the same database
            name, value = assignment.split("=", 1)
            assert (name, value) == ("DATABASE_URL", self.shell["DATABASE_URL"]), assignment
        program, *args = argv
        if program in ("gateway", ".venv/bin/gateway"):
            self.seen.append((argv, self.gateway(args)))
        elif program == "curl":
            self.seen.append((argv, self.curl(args)))
        else:
            pytest.fail(f"the README runs {program!r}, which this test does not know how to run")

    def assign(self, name: str, value: str) -> None:
        if name == "DATABASE_URL":
            assert value == "sqlite:///$PWD/instance/two-lenders.db"
            url = self.test_database_url
            if url.startswith("sqlite"):  # a database of its own, new: init-db starts from nothing
                url = value.replace("$PWD/instance", self.settings.instance_path)
                assert not Path(url.removeprefix("sqlite:///")).exists()
            self.monkeypatch.setenv("DATABASE_URL", url)
        elif value == PASTE:
            assert self.printed_token, f"{name}: no token printed before"
            value, self.printed_token = self.printed_token, ""
        self.shell[name] = value

    def gateway(self, args: list[str]) -> str:
        if args == ["serve", "--stand-ins"]:
            return self.serve()
        # the first terminal: the environment without what `serve --stand-ins` gave the second one
        env = {name: None for name in self.server_env}
        result = CliRunner().invoke(main, args, input="1\n" if args[0] == "ussd" else None, env=env,
                                    catch_exceptions=False)
        assert result.exit_code == 0, (args, result.output)
        if found := re.search(r"^API token \(shown once\): (\S+)$", result.stdout, re.M):
            self.printed_token = found.group(1)
        return result.stdout  # what the command printed (logs go to standard error)

    def serve(self) -> str:
        _, env = stand_in_commands("127.0.0.1", 5000)
        for name, value in env.items():
            if not name.startswith("AT_") or name == "AT_ALLOWED_IPS":  # AT's URLs: the at_server fixture's
                self.monkeypatch.setenv(name, value)
                self.server_env[name] = value
        self.client = create_app(Settings.from_env()).test_client()
        return ""

    def curl(self, args: list[str]) -> str:
        assert self.client is not None, "curl before the gateway was started"
        headers, body, url = {}, None, None
        args = [re.sub(r"\$(\w+)", lambda m: self.shell[m.group(1)], a) for a in args]
        while args:
            arg = args.pop(0)
            if arg == "-s":
                continue
            if arg == "-H":
                name, value = args.pop(0).split(":", 1)
                headers[name] = value.strip()
            elif arg == "-d":
                body = args.pop(0)
            else:
                assert arg.startswith(SERVER + "/") and url is None, arg
                url = arg.removeprefix(SERVER)
        res = self.client.open(url, method="POST" if body is not None else "GET", headers=headers, data=body)
        run_payment_jobs()  # `serve`'s worker: payments first, then the SMS they queue
        run_jobs()
        return res.get_data(as_text=True)

    def output(self, *words: str) -> str:
        """What the one command whose line has all these words showed."""
        [text] = [text for argv, text in self.seen if all(w in argv for w in words)]
        return text


@pytest.fixture
def walk(settings, database_url, at_server, monkeypatch):
    walk = Walk(monkeypatch, settings, database_url)
    with time_machine.travel(WHEN, tick=False):
        for argv in readme_commands():
            walk.run(argv)
    return walk


def test_the_readme_section_is_what_the_test_runs():
    commands = readme_commands()
    assert [c[1] if c[0] != "export" else "export" for c in commands if c[0] in ("gateway", "export")] == [
        "export", "init-db", "partner", "partner", "product", "product", "staff", "staff", "portfolio", "portfolio",
        "ussd", "ussd", "messages", "messages"]
    assert sum(c[0] == "curl" for c in commands) == 4
    assert ["DATABASE_URL=sqlite:///$PWD/instance/two-lenders.db", ".venv/bin/gateway", "serve", "--stand-ins"] \
        in commands


def test_two_lenders_set_up_from_an_empty_database(walk):
    assert walk.output("init-db").startswith("database ready: ")
    assert walk.output("partner", "Jirani Finance").startswith("lender 1: Jirani Finance (KE, paybill 600100)\n")
    assert walk.output("partner", "Sola Bora").startswith("lender 2: Sola Bora (KE, paybill 600200)\n")
    assert "USSD codes: *384*2#; paybills and tills: 600200" in walk.output("partner", "Sola Bora")
    assert walk.output("staff", "Jirani Finance").startswith(
        "staff 1: Wanjiku Manager (manager, Jirani Finance) +254722***111\nAPI token (shown once): ")
    assert walk.shell["JIRANI_TOKEN"] != walk.shell["SOLA_TOKEN"]
    for file in ("docs/examples/jirani_portfolio.csv", "docs/examples/sola_portfolio.csv"):
        assert walk.output("portfolio", file) == (
            "imported: 2 new loans (2 new borrowers), 0 updated, 0 unchanged; 0 bad rows\n")


def test_each_lenders_code_shows_only_that_lenders_loan(walk):
    jirani = walk.output("ussd", "*384*1#")
    assert "\nJirani Finance\nHello Amina. Loan BIZ20001\n1 Balance\n" in jirani
    assert "\nLoan BIZ20001\nBalance: Ksh19,600\nIn arrears: Ksh3,866\n0 Menu 00 Back\n" in jirani
    assert "SOL30001" not in jirani and "Sola Bora" not in jirani
    sola = walk.output("ussd", "*384*2#")
    assert "\nSola Bora\nHabari Amina. Mkopo SOL30001\n1 Salio\n" in sola
    assert "\nMkopo SOL30001\nSalio: Ksh 15,000\nMalimbikizo: Ksh 3,000\n0 Menyu 00 Rudi\n" in sola
    assert "BIZ20001" not in sola and "Jirani" not in sola


def test_each_paybill_posts_to_its_lender_and_sends_that_lenders_receipt(walk, at_server):
    for paybill in ("600100", "600200"):
        [answer] = [text for argv, text in walk.seen if argv[0] == "curl" and f'"{paybill}"' in argv[-1]]
        assert json.loads(answer) == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert [(sms["from"], sms["to"], sms["message"]) for sms in at_server.sms] == [  # no welcome SMS at import
        ("JIRANI", AMINA, "Jirani Finance: We received Ksh1,500 for loan BIZ20001. Balance Ksh18,100. "
                          "Overdue Ksh2,366 since 1 Nov. Next due 1 Dec."),
        ("SOLABORA", AMINA, "Sola Bora: Tumepokea Ksh 700 kwa mkopo SOL30001. Salio Ksh 14,300. "
                            "Deni lililochelewa Ksh 2,300 tangu 5 Nov. Malipo yajayo 3 Des.")]
    jirani = walk.output("messages", "Jirani Finance").splitlines()
    assert len(jirani) == 2 and jirani[1].startswith("2026-12-01 12:00 EAT   +254712***678   transactional")
    assert jirani[1].endswith(
        "payment_receipt        en   sent        Jirani Finance: We received Ksh1,500 for loan BIZ2")
    sola = walk.output("messages", "Sola Bora").splitlines()
    assert len(sola) == 2 and sola[1].endswith("sw   sent        Sola Bora: Tumepokea Ksh 700 kwa mkopo SOL30001. S")


def test_each_managers_token_lists_only_its_own_borrowers(walk):
    def queue(variable):
        header = f"Authorization: Bearer ${variable}"
        [text] = [text for argv, text in walk.seen if argv[0] == "curl" and header in argv]
        return text, [(i["borrower_name"], i["account_ref"], i["phone"]) for i in json.loads(text)["items"]]

    text, jirani = queue("JIRANI_TOKEN")
    assert sorted(jirani) == [("Amina Wanjiru", "BIZ20001", AMINA), ("Peter Kamau", "BIZ20002", "+254722555001")]
    assert "SOL3000" not in text and "+254733444002" not in text
    text, sola = queue("SOLA_TOKEN")
    assert sorted(sola) == [("Amina Wanjiru", "SOL30001", AMINA), ("Mary Mutua", "SOL30002", "+254733444002")]
    assert "BIZ2000" not in text and "+254722555001" not in text
    # another lender's loan, asked for by id: a 404, never its data
    [sola_loan] = [i["loan_id"] for i in json.loads(text)["items"] if i["account_ref"] == "SOL30001"]
    with time_machine.travel(WHEN, tick=False):
        res = walk.client.get(f"/api/ops/loans/{sola_loan}/arrears",
                              headers={"Authorization": f"Bearer {walk.shell['JIRANI_TOKEN']}"})
    assert res.status_code == 404 and "SOL30001" not in res.get_data(as_text=True)
