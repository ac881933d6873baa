"""The fault storm (issue 16, "Done when"): M-Pesa callbacks racing each other while Redis goes
down and a worker is killed, then no manual step; does every shilling and every SMS end right?

    .venv/bin/python bench/storm.py                       # full size: 5,770 callbacks, 6-15 minutes
    .venv/bin/python bench/storm.py --c2b 40 --stk 10 --no-faults --borrowers 60   # tiny, no faults

Everything is private and on loopback: its own redis-server on a free port (started, stopped with
`shutdown nosave` and restarted by this script; never the shared 6379), its own PostgreSQL
database (STORM_DATABASE_URL, default gateway_storm on 127.0.0.1, dropped and created, schema by
the project's migrations), a demo portfolio (`gateway.demo.seed`), the Africa's Talking stand-in
in this process (the first try of every 10th SMS answered HTTP 500, as AT sometimes does), two gunicorn web
processes (as bench/callbacks.py starts them) and the RQ workers and RQ cron as `gateway serve`
starts and supervises them (`gateway.serve.run`, with its web process left out and the worker
line repeated): whatever `gateway serve` does when a worker dies (today: it stops the rest and
exits), happens here too. This script restarts nothing but Redis, unless --restart-serve (start
`gateway serve` again whenever it exits, as systemd's Restart=always would: for comparison).

Timeline:
1. setup; the reminders due today are planned (`plan_reminders`, as RQ cron's planner would) and
   start going out;
2. quiet hours begin (QUIET_HOURS_START is set to that moment in the borrowers' time, so the storm
   runs "at 20:00"); the callbacks are sent: Daraja C2B confirmations, STK callbacks for payment
   intents the USSD "pay now" left `sent`, reversal results. --dup-rate of them (15 %) are fired
   twice at the same instant, once to each web process. Some receipts arrive by both STK and C2B,
   in both orders; some payments are reversed, half of those reversals sent *before* the payment.
   A callback answered non-2xx or not at all is sent again (up to 3 times, 3 s apart), as a
   provider retries;
3. at 35 % of the callbacks Redis is stopped (`shutdown nosave`: every queued job is lost) for
   --outage seconds, then restarted empty; at 65 % one RQ worker (and its work horse) is SIGKILLed;
4. then nothing but waiting, at most --settle-timeout seconds, checking every 5 s. The sweeper runs
   only as RQ cron runs it (every minute, as a job on the workers' queue).

The last line printed is one JSON object. Definitions (a "receipt" is an M-Pesa receipt number,
TransID / MpesaReceiptNumber; "acknowledged" is an HTTP 2xx answer):
- callbacks_sent: callback deliveries, duplicates included, provider retries not;
  callbacks_acknowledged: those answered 2xx (after at most 3 retries).
- receipts_acknowledged: receipts for which at least one payment callback (C2B or STK) was
  acknowledged. A receipt must end *reversed* if a reversal result naming it was acknowledged,
  else *posted*.
- payments_lost: acknowledged receipts with no payment row.
- payments_doubled: receipts with more than one payment row, or whose allocation entries in the
  ledger add up to more than the payment (posted twice).
- payments_unreconciled: acknowledged receipts, neither lost nor doubled, not in their final
  state: must-be-posted ones not `posted` with ledger entries summing to the amount; must-be-
  reversed ones not `reversed` with entries summing to 0.
- ledger_total_minor: sum of all ledger entries of the storm's payments (reversals are
  compensating entries); ledger_expected_minor: sum of the amounts of the acknowledged receipts
  that must end posted. ledger_ok: they are equal.
- sms_in_quiet_hours: SMS accepted by the AT stand-in whose message is a reminder or welcome
  (not a receipt or reply) and that reached AT inside the borrower's quiet hours.
- sms_sent_twice: SMS accepted by the AT stand-in beyond the number of stored messages with that
  phone and text (the borrower got one message twice; two receipts of a repaid loan for the same
  amount read alike and are two messages).
- settled_seconds: seconds from the last callback acknowledged until the first check at which
  all of these held: lost = doubled = unreconciled = 0, ledger_ok, no payment still `received`,
  no callback `failed` (kept for retry), sms_pending = 0. null if that never happened within
  --settle-timeout.
- sms_pending: stored SMS not sent yet (queued, sending, retrying), except reminders and welcome
  messages whose borrower is in quiet hours at that moment: those are sms_held_for_quiet_hours,
  waiting as they must (the storm runs at the start of quiet hours, so the day's unsent reminders
  are held, not pending). A receipt, a reply, or a reminder outside quiet hours not sent is pending.
- diagnostics: early_reversals_receipted (receipts SMS sent for payments whose reversal came
  first), payments_received / callbacks_failed / sms_pending at the end, and the processes:
  worker processes seen (`gateway.workers.runner worker` children of `gateway serve`; more
  than --workers: something restarted them), alive at the end,
  whether `gateway serve` was still up, and how often this script restarted it.
Exit status 0 whatever the figures (a benchmark reports, it does not judge); 2 if setup failed.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import queue
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from http.server import ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, Gunicorn, free_port  # noqa: E402

DEFAULT_DB = os.environ.get("STORM_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gateway_storm")
TOKEN = "storm-callback-token"
C2B_PATH = "/payments/daraja/c2b/confirmation"
STK_PATH = "/payments/daraja/stk/callback"
REVERSAL_PATH = "/payments/daraja/reversal/result"
PENDING_SMS = ("queued", "sending", "retrying")
NOT_TRANSACTIONAL = ("reminder", "welcome")


# ---------------------------------------------------------------------------- callbacks (Daraja wire formats)

def c2b(receipt: str, ref: str, amount: int) -> dict:
    return {"TransactionType": "Pay Bill", "TransID": receipt, "TransTime": "20261201121325",
            "TransAmount": f"{amount}.00", "BusinessShortCode": "600966", "BillRefNumber": ref,
            "InvoiceNumber": "", "OrgAccountBalance": "", "ThirdPartyTransID": "", "MSISDN": "2547 ***** 126",
            "FirstName": "STORM", "MiddleName": "", "LastName": ""}


def stk(checkout: str, receipt: str, amount: int, msisdn: str) -> dict:
    return {"Body": {"stkCallback": {"MerchantRequestID": f"m-{checkout}", "CheckoutRequestID": checkout, "ResultCode": 0,
            "ResultDesc": "The service request is processed successfully.", "CallbackMetadata": {"Item": [
                {"Name": "Amount", "Value": amount}, {"Name": "MpesaReceiptNumber", "Value": receipt},
                {"Name": "Balance"}, {"Name": "TransactionDate", "Value": 20261201102115},
                {"Name": "PhoneNumber", "Value": int(msisdn)}]}}}}


def reversal(original: str, reversal_id: str, amount: int) -> dict:
    return {"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
            "OriginatorConversationID": f"storm-{reversal_id}", "ConversationID": f"AG_storm_{reversal_id}",
            "TransactionID": reversal_id, "ResultParameters": {"ResultParameter": [
                {"Key": "Amount", "Value": amount}, {"Key": "TransCompletedTime", "Value": 20261201122000},
                {"Key": "OriginalTransactionID", "Value": original}, {"Key": "Charge", "Value": 0.00}]}}}


# ---------------------------------------------------------------------------- setup

def fresh_database(url: str) -> None:
    import psycopg

    from gateway import migrate
    base, name = url.rsplit("/", 1)
    admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate.upgrade(url)


def seed(borrowers: int, stk_count: int, rng: random.Random) -> tuple[list[dict], list[dict]]:
    """The demo portfolio; returns its loans, and STK intents the USSD "pay now" left `sent`."""
    from sqlmodel import select

    from gateway import demo
    from gateway.db import session_scope
    from gateway.models import Borrower, Loan, PaymentIntent

    with session_scope() as session:
        demo.seed(session, borrowers=borrowers)
    with session_scope() as session:
        rows = session.exec(select(Loan.id, Loan.account_ref, Borrower.phone).join(Borrower, Borrower.id == Loan.borrower_id)
                            .order_by(Loan.id)).all()
        loans = [{"id": i, "ref": ref, "msisdn": phone.lstrip("+")} for i, ref, phone in rows]
        intents = []
        for k in range(stk_count):
            intent = {"loan": rng.choice(loans), "amount": rng.randint(50, 2000), "checkout": f"ws_CO_storm_{k:06d}"}
            intents.append(intent)
            session.add(PaymentIntent(loan_id=intent["loan"]["id"], amount=intent["amount"] * 100, currency="KES",
                                      phone="+" + intent["loan"]["msisdn"], session_id=f"ATUid_storm_{k}", status="sent",
                                      merchant_request_id=f"m-{intent['checkout']}", checkout_request_id=intent["checkout"]))
    return loans, intents


def build(args, loans: list[dict], intents: list[dict], rng: random.Random) -> tuple[list[list[tuple]], dict]:
    """The deliveries in sending order (each a list of (web, path, body, key); two items = a duplicate
    fired at both web processes at once), and each receipt's amount and whether its reversal comes first."""
    timeline: list[tuple[float, str, dict, tuple]] = []  # (position, path, body, key)
    receipts: dict[str, dict] = {}

    def pay(receipt: str, amount: int, pos: float) -> None:
        receipts[receipt] = {"amount": amount * 100, "reversal_first": False}
        if rng.random() < args.reverse_rate:  # M-Pesa reverses it; half the time we hear of that first
            before = rng.random() < 0.5
            receipts[receipt]["reversal_first"] = before
            shift = rng.uniform(0.002, 0.05)
            timeline.append((pos - shift if before else pos + shift, REVERSAL_PATH,
                             reversal(receipt, f"R{receipt[0]}{receipt[2:]}", amount), ("reversal", receipt)))

    for k in range(args.c2b):
        loan, amount, pos = rng.choice(loans), rng.randint(50, 2000), rng.random()
        receipt = f"RK{k:08d}"
        ref = loan["ref"].lower() if k % 7 == 0 else loan["ref"]  # payers type account numbers as they like
        timeline.append((pos, C2B_PATH, c2b(receipt, ref, amount), ("payment", receipt)))
        pay(receipt, amount, pos)
    for k, intent in enumerate(intents):
        loan, amount, pos = intent["loan"], intent["amount"], rng.random()
        receipt = f"SK{k:08d}"
        timeline.append((pos, STK_PATH, stk(intent["checkout"], receipt, amount, loan["msisdn"]), ("payment", receipt)))
        if k % 5 < 2:  # the same money also announced by C2B: half before the STK callback, half after
            shift = rng.uniform(0.001, 0.02) * (1 if k % 5 == 0 else -1)
            timeline.append((pos + shift, C2B_PATH, c2b(receipt, loan["ref"], amount), ("payment", receipt)))
        pay(receipt, amount, pos)
    timeline.sort(key=lambda item: item[0])
    deliveries = []
    for n, (_, path, body, key) in enumerate(timeline):
        web = n % 2
        if rng.random() < args.dup_rate:
            deliveries.append([(web, path, body, key), (1 - web, path, body, key)])
        else:
            deliveries.append([(web, path, body, key)])
    return deliveries, receipts


# ---------------------------------------------------------------------------- processes

class PrivateRedis:
    """A redis-server of our own on a free loopback port, no persistence."""

    def __init__(self, folder: str):
        self.port, self.folder, self.proc = free_port(), folder, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", self.folder, "--loglevel", "warning"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            if subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True).stdout.strip() == "PONG":
                return
            time.sleep(0.1)
        raise RuntimeError("private redis-server did not start")

    def shutdown_nosave(self) -> None:
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown", "nosave"], capture_output=True, timeout=10)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.shutdown_nosave()


def serve_children(count: int, worker_class: str) -> None:
    """(Child process.) `gateway serve` without its web process and with `count` workers: its own
    command lines (WORKER_CLASS set if --worker-class is given), its own supervision of them."""
    from gateway import serve
    from gateway.config import Settings

    product_commands = serve.commands
    if worker_class:
        os.environ["WORKER_CLASS"] = worker_class  # read by gateway.workers.runner (simple | fork)

    def commands(host, port, workers, redis_url):
        cmds = product_commands(host, port, workers, redis_url)
        worker = cmds["worker"]
        rest = {name: cmd for name, cmd in cmds.items() if name not in ("web", "worker")}  # scheduler, cron
        return {**{f"worker-{n + 1}": worker for n in range(count)}, **rest}

    serve.commands = commands
    serve.run(Settings.from_env(), "127.0.0.1", 0, 1)


def descendants(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                for child in map(int, fh.read().split()):
                    out += [child, *descendants(child)]
    except OSError:
        pass
    return out


def proc_text(pid: int, name: str) -> str:
    """/proc/<pid>/<name> (cmdline, environ) with its NUL separators as spaces; "" once the process is gone."""
    try:
        with open(f"/proc/{pid}/{name}", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


WORKER_MARK = "gateway.workers.runner worker"  # `gateway serve`'s worker command line (serve.commands)


def parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def kill_tree(pid: int) -> None:
    for p in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGKILL)


class Serve:
    """`gateway serve`'s workers and cron (see serve_children) in a child process. With `restart`,
    started again when it exits (at most every 5 s), as systemd's Restart=always would."""

    def __init__(self, cmd: list[str], env: dict, log: str, restart: bool):
        self.cmd, self.env, self.log, self.restart = cmd, env, log, restart
        self.mark = env["REDIS_URL"]  # on every worker's command line: ours, not another session's
        self.proc, self.started_at, self.restarts = None, 0.0, 0
        self.workers_seen: set[int] = set()
        self.children_seen: set[int] = set()

    def start(self) -> None:
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        self.started_at = time.time()

    def workers(self) -> list[int]:
        """The RQ worker processes now: its children (not their work horses or schedulers, which
        share the command line)."""
        return [p for p in descendants(self.proc.pid) if parent(p) == self.proc.pid and WORKER_MARK in proc_text(p, "cmdline")]

    def watch(self) -> None:
        """Called every fraction of a second: note the processes, restart if asked to."""
        self.workers_seen |= set(self.workers())
        self.children_seen |= set(descendants(self.proc.pid))
        if self.restart and self.proc.poll() is not None and time.time() - self.started_at >= 5:
            self.restarts += 1
            self.start()

    def stop(self) -> None:
        self.children_seen |= set(descendants(self.proc.pid))
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        for pid in self.children_seen:  # anything left behind (e.g. an orphaned work horse) on our Redis
            line = proc_text(pid, "cmdline")
            if ("rq.cli" in line or "gateway.workers.runner" in line) and self.mark in line + proc_text(pid, "environ"):
                kill_tree(pid)


class RecordingAT:
    """The project's AT stand-in, answering HTTP 500 to the first request of every `fail_every`-th
    distinct SMS (phone and text), and recording each SMS request: (unix time, phone, text, accepted)."""

    def __init__(self, fail_every: int):
        from gateway.standins import africastalking as at_standin

        outer = self
        self.sms: list[tuple[float, str, str, bool]] = []
        self.first_tries: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()

        class Fake(at_standin.StandIn):
            def answer(self, path, form):
                if path != "/version1/messaging":
                    return super().answer(path, form)
                key = (form.get("to", ""), form.get("message", ""))
                with outer.lock:
                    first = key not in outer.first_tries
                    outer.first_tries.setdefault(key, len(outer.first_tries))
                    fail = bool(fail_every) and first and outer.first_tries[key] % fail_every == fail_every - 1
                reply = (500, "text/plain", "Internal error") if fail else super().answer(path, form)
                accepted = reply[0] == 201 and '"statusCode": 101' in reply[2]
                with outer.lock:
                    outer.sms.append((time.time(), form.get("to", ""), form.get("message", ""), accepted))
                return reply

        self.fake = Fake()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), at_standin._handler(self.fake))
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------- sending

class Sender:
    """Threads sending the deliveries in order; a duplicate's two copies are written to both web
    processes back to back before either answer is read (the same instant)."""

    def __init__(self, ports: list[int], deliveries: list[list[tuple]], threads: int):
        self.ports, self.jobs = ports, queue.Queue()
        for d in deliveries:
            self.jobs.put(d)
        self.done = 0
        self.results: list[tuple[tuple, int]] = []  # (key, final HTTP status or 0)
        self.lock = threading.Lock()
        self.last_ack = 0.0
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self, timeout: float) -> bool:
        deadline = time.time() + timeout
        for t in self.threads:
            t.join(max(deadline - time.time(), 0))
        return not any(t.is_alive() for t in self.threads)

    def _run(self) -> None:
        conns: dict[int, http.client.HTTPConnection] = {}

        def conn(web: int) -> http.client.HTTPConnection:
            if web not in conns:
                conns[web] = http.client.HTTPConnection("127.0.0.1", self.ports[web], timeout=30)
            return conns[web]

        def send_all(items):
            statuses = []
            for web, path, body, _ in items:  # all requests first...
                try:
                    conn(web).request("POST", path, body=body, headers={"Content-Type": "application/json",
                                                                        "X-Callback-Token": TOKEN})
                    statuses.append(None)
                except OSError:
                    conns.pop(web, None)
                    statuses.append(0)
            for n, (web, *_rest) in enumerate(items):  # ...then the answers
                if statuses[n] is None:
                    try:
                        res = conn(web).getresponse()
                        res.read()
                        statuses[n] = res.status
                    except (OSError, http.client.HTTPException):
                        conns.pop(web, None)
                        statuses[n] = 0
            return statuses

        while True:
            try:
                items = self.jobs.get_nowait()
            except queue.Empty:
                return
            items = [(web, path, json.dumps(body, separators=(",", ":")), key) for web, path, body, key in items]
            statuses = send_all(items)
            for _attempt in range(3):  # the provider retries what was not acknowledged
                retry = [(n, item) for n, item in enumerate(items) if not 200 <= statuses[n] < 300]
                if not retry:
                    break
                time.sleep(3)
                for (n, _), status in zip(retry, send_all([item for _, item in retry]), strict=True):
                    statuses[n] = status
            with self.lock:
                self.results += [(item[3], status) for item, status in zip(items, statuses, strict=True)]
                self.done += 1
                if any(200 <= s < 300 for s in statuses):
                    self.last_ack = time.time()


# ---------------------------------------------------------------------------- checking

def check(dsn: str, receipts: dict, acked: set, reversal_acked: set, quiet: tuple, at: RecordingAT) -> dict:
    import psycopg

    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT p.provider_txn_id, p.status, p.amount, p.id, "
            "coalesce(sum(e.amount) FILTER (WHERE e.kind = 'allocation'), 0), coalesce(sum(e.amount), 0) "
            "FROM payment p LEFT JOIN ledgerentry e ON e.payment_id = p.id WHERE p.provider = 'mpesa' "
            "GROUP BY p.id").fetchall()
        received = conn.execute("SELECT count(*) FROM payment WHERE status = 'received'").fetchone()[0]
        failed = conn.execute("SELECT count(*) FROM rawcallback WHERE status IN ('failed', 'stored')").fetchone()[0]
        unsent = conn.execute("SELECT m.kind, coalesce(b.timezone, 'Africa/Nairobi') FROM message m "
                              "LEFT JOIN borrower b ON b.id = m.borrower_id WHERE m.status = ANY(%s)",
                              (list(PENDING_SMS),)).fetchall()
        messages = conn.execute("SELECT phone, text, kind, dedupe_key FROM message").fetchall()
        timezones = dict(conn.execute("SELECT phone, timezone FROM borrower").fetchall())
    by_receipt = defaultdict(list)
    for txn, status, amount, pid, allocated, net in rows:
        by_receipt[txn].append((status, amount, pid, allocated, net))
    lost = doubled = unreconciled = ledger_total = expected = 0
    for receipt in acked:
        found, must_reverse = by_receipt.get(receipt, []), receipt in reversal_acked
        expected += 0 if must_reverse else receipts[receipt]["amount"]
        if not found:
            lost += 1
            continue
        if len(found) > 1 or any(allocated > amount for _, amount, _, allocated, _ in found):
            doubled += 1
            continue
        status, amount, _, _, net = found[0]
        ok = (status == "reversed" and net == 0) if must_reverse else (status == "posted" and net == amount)
        unreconciled += not ok
    ledger_total = int(sum(net for found in by_receipt.values() for *_, net in found))
    # SMS as AT saw them
    kinds = {(phone, text): kind for phone, text, kind, _ in messages}
    rows = Counter((phone, text) for phone, text, _, _ in messages)  # a repaid loan's receipts can read alike
    start, end = quiet

    def in_quiet_hours(when: float, timezone: str) -> bool:
        local = dt.datetime.fromtimestamp(when, ZoneInfo(timezone)).time()
        return (local >= start or local < end) if start > end else start <= local < end

    # Not sent yet: a reminder or welcome message is *held*, rightly, while its borrower is in quiet
    # hours; anything else (receipts, replies, a reminder outside quiet hours) is still *pending*.
    now = time.time()
    held = sum(kind in NOT_TRANSACTIONAL and in_quiet_hours(now, tz) for kind, tz in unsent)
    sms_pending = len(unsent) - held
    in_quiet = twice = sent = 0
    seen = Counter()
    receipted = {key.split(":", 1)[1] for _, _, _, key in messages if key and key.startswith("receipt:")}
    with at.lock:
        sms = list(at.sms)
    for when, phone, text, accepted in sms:
        if not accepted:
            continue
        sent += 1
        seen[(phone, text)] += 1
        twice += seen[(phone, text)] > rows[(phone, text)]
        if kinds.get((phone, text)) in NOT_TRANSACTIONAL and in_quiet_hours(when, timezones.get(phone, "Africa/Nairobi")):
            in_quiet += 1
    payment_ids = {txn: found[0][2] for txn, found in by_receipt.items() if found}
    early_receipted = sum(str(payment_ids.get(r)) in receipted for r in reversal_acked if receipts[r]["reversal_first"])
    return {"lost": lost, "doubled": doubled, "unreconciled": unreconciled, "ledger_total_minor": ledger_total,
            "ledger_expected_minor": expected, "ledger_ok": ledger_total == expected, "payments_received": received,
            "callbacks_failed": failed, "sms_pending": sms_pending, "sms_held_for_quiet_hours": held, "sms_sent": sent, "sms_in_quiet_hours": in_quiet,
            "sms_sent_twice": twice, "early_reversals_receipted": early_receipted}


def settled(c: dict) -> bool:
    return (c["lost"] == c["doubled"] == c["unreconciled"] == c["payments_received"] == c["callbacks_failed"]
            == c["sms_pending"] == 0 and c["ledger_ok"])


# ---------------------------------------------------------------------------- the run

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--c2b", type=int, default=4_000, help="C2B receipts")
    ap.add_argument("--stk", type=int, default=600, help="STK receipts (2 in 5 also announced by C2B)")
    ap.add_argument("--borrowers", type=int, default=600, help="demo portfolio size (at most 2,300)")
    ap.add_argument("--reverse-rate", type=float, default=0.04, help="share of receipts reversed (half before)")
    ap.add_argument("--dup-rate", type=float, default=0.15, help="share of callbacks fired twice at once")
    ap.add_argument("--workers", type=int, default=2, help="RQ workers under the `gateway serve` supervisor")
    ap.add_argument("--worker-class", default="", choices=("", "simple", "fork"),
                    help="WORKER_CLASS for `gateway serve`'s workers (simple: RQ's SimpleWorker, fork: RQ's Worker); "
                         "default: the setting's default, exactly what `gateway serve` runs")
    ap.add_argument("--gunicorn-workers", type=int, default=2, help="per web process (two web processes)")
    ap.add_argument("--threads", type=int, default=12, help="sending threads")
    ap.add_argument("--outage", type=float, default=20, help="seconds Redis stays down")
    ap.add_argument("--no-faults", action="store_true", help="no Redis outage, no worker killed")
    ap.add_argument("--restart-serve", action="store_true",
                    help="start `gateway serve`'s workers again whenever it exits, as systemd's Restart=always would "
                         "(not the product's own behaviour: for comparison)")
    ap.add_argument("--sms-fail-every", type=int, default=10, help="AT answers HTTP 500 to the first try of every n-th SMS (0: never)")
    ap.add_argument("--settle-timeout", type=float, default=300)
    ap.add_argument("--database-url", default=DEFAULT_DB)
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--serve-children", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_children:
        return serve_children(args.serve_children, args.worker_class)

    started = time.time()
    folder = tempfile.mkdtemp(prefix="gw-storm-")
    rng = random.Random(args.seed)
    redis = PrivateRedis(folder)
    at = RecordingAT(args.sms_fail_every)
    # Quiet hours begin when the callbacks start (set below): the storm runs "at 20:00" borrower time.
    env = {"DATABASE_URL": args.database_url, "REDIS_URL": redis.url, "MPESA_CALLBACK_TOKEN": TOKEN,
           "AT_SMS_BASE_URL": f"{at.url}/version1", "AT_VOICE_BASE_URL": at.url,
           "GATEWAY_INSTANCE_PATH": os.path.join(folder, "instance"), "PYTHONUNBUFFERED": "1"}
    os.environ.update(env)
    webs, serve = [], None
    try:
        redis.start()
        fresh_database(args.database_url)
        loans, intents = seed(args.borrowers, args.stk, rng)
        deliveries, receipts = build(args, loans, intents, rng)
        setup_s = time.time() - started
        nairobi = ZoneInfo("Africa/Nairobi")
        quiet_at = time.time() + 45  # after the processes are up and the reminders went out
        quiet_start = dt.datetime.fromtimestamp(quiet_at, nairobi).time().replace(microsecond=0)
        quiet_end = (dt.datetime.combine(dt.date.today(), quiet_start) + dt.timedelta(hours=10)).time()
        env.update(QUIET_HOURS_START=quiet_start.isoformat(), QUIET_HOURS_END=quiet_end.isoformat())
        os.environ.update(env)

        webs = [Gunicorn("wsgi:app", workers=args.gunicorn_workers, threads=4, env=env,
                         log=os.path.join(folder, f"web{n}.log")) for n in range(2)]
        serve = Serve([sys.executable, __file__, "--serve-children", str(args.workers), "--worker-class",
                       args.worker_class], {**os.environ, **env}, os.path.join(folder, "serve.log"), args.restart_serve)
        serve.start()
        for w in webs:
            w.wait_ready()
        from gateway.workers.reminders import plan_reminders
        planned = plan_reminders()
        print(f"setup {setup_s:.0f} s: {len(loans):,} loans, {planned} reminders planned; sending "
              f"{sum(map(len, deliveries)):,} callbacks for {len(receipts):,} receipts; logs in {folder}", flush=True)
        time.sleep(max(quiet_at - time.time(), 0))

        sender = Sender([w.port for w in webs], deliveries, args.threads)
        load_started = time.time()
        sender.start()
        faults = {"redis_down_at_s": None, "redis_back_at_s": None, "worker_killed_at_s": None, "workers_alive_then": None}
        total = len(deliveries)
        while any(t.is_alive() for t in sender.threads):
            serve.watch()
            now = time.time() - load_started
            if not args.no_faults and faults["redis_down_at_s"] is None and sender.done >= 0.35 * total:
                faults["redis_down_at_s"] = round(now, 1)
                redis.shutdown_nosave()
                threading.Timer(args.outage, lambda: (redis.start(), faults.update(
                    redis_back_at_s=round(time.time() - load_started, 1)))).start()
            if not args.no_faults and faults["worker_killed_at_s"] is None and sender.done >= 0.65 * total:
                alive = serve.workers()
                faults.update(worker_killed_at_s=round(now, 1), workers_alive_then=len(alive))
                if alive:
                    kill_tree(alive[0])
            if now > 900:
                break
            time.sleep(0.2)
        sender.join(60)
        if faults["redis_down_at_s"] is not None:  # the restart timer, bounded by --outage
            deadline = time.time() + args.outage + 30
            while faults["redis_back_at_s"] is None and time.time() < deadline:
                time.sleep(0.2)
        load_s = time.time() - load_started
        acked = {key[1] for key, status in sender.results if key[0] == "payment" and 200 <= status < 300}
        reversal_acked = {key[1] for key, status in sender.results if key[0] == "reversal" and 200 <= status < 300}
        print(f"sent in {load_s:.0f} s; waiting up to {args.settle_timeout:.0f} s for everything to settle", flush=True)

        settle_from, settled_s, c = sender.last_ack or time.time(), None, {}
        deadline = time.time() + args.settle_timeout
        while True:
            serve.watch()
            c = check(args.database_url.replace("postgresql+psycopg://", "postgresql://"), receipts, acked,
                      reversal_acked, (quiet_start, quiet_end), at)
            if settled(c):
                settled_s = round(time.time() - settle_from, 1)
                break
            if time.time() > deadline:
                break
            print(f"  {time.time() - settle_from:5.0f} s: unreconciled {c['unreconciled']}, lost {c['lost']}, "
                  f"received {c['payments_received']}, failed callbacks {c['callbacks_failed']}, "
                  f"SMS pending {c['sms_pending']} (held for quiet hours {c['sms_held_for_quiet_hours']})", flush=True)
            time.sleep(5)
        processes = {"rq_workers": args.workers, "worker_processes_seen": len(serve.workers_seen),
                     "workers_alive_at_end": len(serve.workers()), "serve_alive_at_end": serve.proc.poll() is None,
                     "serve_restarted_by_this_script": serve.restarts}
    except Exception:
        import traceback
        traceback.print_exc()
        sys.exit(2)
    finally:
        for w in webs:
            w.stop()
        if serve is not None:
            serve.stop()
        redis.stop()
        at.stop()
        with open(os.path.join(folder, "sms.jsonl"), "w") as fh:  # what AT received, for a closer look
            for when, phone, text, accepted in at.sms:
                fh.write(json.dumps({"at": when, "to": phone, "text": text, "accepted": accepted}) + "\n")

    sent = [s for key, s in sender.results]
    out = {"bench": "storm", "callbacks_sent": len(sent), "callbacks_acknowledged": sum(200 <= s < 300 for s in sent),
           "duplicates": sum(len(d) - 1 for d in deliveries), "receipts": len(receipts),
           "receipts_acknowledged": len(acked), "reversals_acknowledged": len(reversal_acked),
           "reversals_before_payment": sum(receipts[r]["reversal_first"] for r in reversal_acked),
           "payments_lost": c["lost"], "payments_doubled": c["doubled"], "payments_unreconciled": c["unreconciled"],
           "ledger_total_minor": c["ledger_total_minor"], "ledger_expected_minor": c["ledger_expected_minor"],
           "ledger_ok": c["ledger_ok"], "sms_sent": c["sms_sent"], "sms_in_quiet_hours": c["sms_in_quiet_hours"],
           "sms_sent_twice": c["sms_sent_twice"], "settled_seconds": settled_s,
           "early_reversals_receipted": c["early_reversals_receipted"], "payments_received": c["payments_received"],
           "callbacks_failed": c["callbacks_failed"], "sms_pending": c["sms_pending"],
           "sms_held_for_quiet_hours": c["sms_held_for_quiet_hours"], "reminders_planned": planned,
           "load_seconds": round(load_s, 1), "faults": None if args.no_faults else {**faults, "outage_s": args.outage},
           "worker_class": args.worker_class or "as gateway serve", "restart_serve": args.restart_serve,
           "processes": processes}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
