"""M-Pesa callbacks under load: Daraja C2B confirmations (10 % duplicates, fired at the same time
as their originals) and STK callbacks, acknowledged by gunicorn and posted by RQ workers; then
PostgreSQL's own rate for a transaction of the same shape (pgbench, 16 clients, same duration).

    .venv/bin/python bench/callbacks.py                     # 10,000 C2B + 1,000 STK; web alone, then posting
    .venv/bin/python bench/callbacks.py --posting skip --runs 3   # the ratio to pgbench, medians of 3
    .venv/bin/python bench/callbacks.py --posting during    # RQ workers posting while the callbacks arrive
    .venv/bin/python bench/callbacks.py --web 2 --workers 2 # scaling out: two web processes, two workers
    .venv/bin/python bench/callbacks.py --c2b 1000 --stk 100 --borrowers 2000   # quick
    .venv/bin/python bench/callbacks.py --in-process 500 [--profile]   # ms, CPU ms, statements per callback

wrk sends every callback once (plus the duplicates); with --web 2 each web process gets its own
wrk and a duplicate always goes to the *other* process than its original. Afterwards the ledger
is checked: total == sum of unique payments, every payment allocated in full, none twice (with
--posting skip: every unique payment stored once, for its amount, every callback stored).

The pgbench comparison runs in a scratch database (the bench database's name + "_pgbench", built
by the project's migrations): per transaction the statements one new C2B confirmation commits
(gateway.inbox.receive): the payment INSERT ... ON CONFLICT DO NOTHING on its
unique (provider, provider_txn_id), its audit row, the raw callback, the callback's audit row,
COMMIT with synchronous_commit on; 16 clients, prepared statements, for as long as the web tier
took to acknowledge. Ratio = acknowledged/s (steady: the median of the callbacks stored per
second over the seconds at least half as busy as the busiest) / pgbench transactions/s (target
>= 20 %); the rate over the whole window (first to last stored callback) is printed too.
Last line: one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from bench.common import (  # noqa: E402
    DEFAULT_DB,
    DEFAULT_REDIS,
    LEDGER_COUNTS,
    NOW,
    ROOT,
    Gunicorn,
    account_ref,
    counts,
    fresh_schema,
    libpq_dsn,
    load_portfolio,
    peak_rss_mib,
    phone,
    table,
)

TOKEN = "bench-callback-token"
C2B_PATH = "/payments/daraja/c2b/confirmation"
STK_PATH = "/payments/daraja/stk/callback"

LUA = r"""
function init(args)
  paths, bodies = {}, {}
  for line in io.lines(args[1]) do
    local p, b = line:match("^([^\t]*)\t(.*)$")
    paths[#paths + 1] = p; bodies[#bodies + 1] = b
  end
  sent, got = 0, 0
end
function request()
  sent = sent + 1
  local k = sent <= #bodies and sent or #bodies  -- past the end (at most -c requests): the last again, idempotent
  return wrk.format("POST", paths[k], {["Content-Type"] = "application/json", ["X-Callback-Token"] = "%s"}, bodies[k])
end
function response(status, headers, body)
  got = got + 1
  if got >= #bodies then wrk.thread:stop() end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "max_us": %%d, ' ..
    '"errors": %%d, "non_2xx": %%d}\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), latency.max, e.connect + e.read + e.write + e.timeout, e.status))
end
""" % TOKEN  # noqa: UP031 -- the Lua keeps its own %d formats (written %%d here)


def c2b(txn: str, ref: str, amount: int, msisdn: str) -> dict:
    return {"TransactionType": "Pay Bill", "TransID": txn, "TransTime": "20261120121325",
            "TransAmount": f"{amount}.00", "BusinessShortCode": "600966", "BillRefNumber": ref,
            "InvoiceNumber": "", "OrgAccountBalance": "", "ThirdPartyTransID": "", "MSISDN": msisdn,
            "FirstName": "BENCH", "MiddleName": "", "LastName": ""}


def stk(checkout: str, receipt: str, amount: int, msisdn: str) -> dict:
    return {"Body": {"stkCallback": {"MerchantRequestID": f"m-{checkout}", "CheckoutRequestID": checkout, "ResultCode": 0,
            "ResultDesc": "The service request is processed successfully.", "CallbackMetadata": {"Item": [
                {"Name": "Amount", "Value": amount}, {"Name": "MpesaReceiptNumber", "Value": receipt},
                {"Name": "Balance"}, {"Name": "TransactionDate", "Value": 20261120102115},
                {"Name": "PhoneNumber", "Value": int(msisdn)}]}}}}


def build(args, rng: random.Random, dsn: str) -> tuple[list[list[tuple[str, dict]]], dict]:
    """The callbacks, split into `args.web` streams; and what the ledger must show afterwards."""
    unique: dict[str, int] = {}  # receipt -> amount
    originals = []
    for k in range(args.c2b):
        i = rng.randint(1, args.borrowers)
        amount = rng.randint(50, 2000)
        receipt = f"RK{k:08d}"
        unique[receipt] = amount
        originals.append((C2B_PATH, c2b(receipt, account_ref(i).lower() if k % 7 == 0 else account_ref(i), amount,
                                        phone(i)[1:])))
    # STK pushes that M-Pesa completed: intents stored as the USSD "pay now" would leave them
    intents = []
    for k in range(args.stk):
        i = rng.randint(1, args.borrowers)
        amount = rng.randint(50, 2000)
        receipt, checkout = f"SK{k:08d}", f"ws_CO_bench_{k:08d}"
        unique[receipt] = amount
        intents.append((i, i, amount * 100, "KES", phone(i), "ussd", f"ATUid_bench_{k}", "sent", NOW, checkout))
        originals.append((STK_PATH, stk(checkout, receipt, amount, phone(i)[1:])))
        if k % 10 == 0:  # the same money also announced by C2B: one payment, keyed by the receipt
            originals.append((C2B_PATH, c2b(receipt, account_ref(i), amount, phone(i)[1:])))
    with psycopg.connect(dsn) as conn, conn.cursor() as cur, cur.copy(
            "COPY paymentintent (id, loan_id, amount, currency, phone, channel, session_id, status, created_at, "
            "checkout_request_id) FROM STDIN") as cp:
        for k, row in enumerate(intents, start=1):
            cp.write_row((k, *row[1:]))
    rng.shuffle(originals)
    # 10 % duplicates, each next to its original but in another stream, so they race each other
    dup_every = 10
    streams: list[list[tuple[str, dict]]] = [[] for _ in range(2 * args.web)]
    for n, item in enumerate(originals):
        s = n % len(streams)
        streams[s].append(item)
        if n % dup_every == 0:
            streams[(s + 1) % len(streams)].append(item)
    expected = {"payments": len(unique), "total_minor": 100 * sum(unique.values()),
                "callbacks": sum(len(s) for s in streams), "distinct": len(originals), "duplicates": sum(len(s) for s in streams) - len(originals)}
    return streams, expected


def write_streams(streams: list[list[tuple[str, dict]]], folder: str) -> list[str]:
    """One file per stream; each stream is sent by its own wrk process (one thread)."""
    files = []
    for n, stream in enumerate(streams):
        files.append(os.path.join(folder, f"stream{n}.tsv"))
        with open(files[-1], "w") as fh:
            # wrk builds one request per thread before it connects, and never sends it: that first line is a spare copy
            for path, body in stream[:1] + stream:
                fh.write(f"{path}\t{json.dumps(body, separators=(',', ':'))}\n")
    return files


# One new C2B confirmation's transaction, as the app commits it (values as a typical callback's).
PGBENCH_SCRIPT = r"""
\set k random(1, 9000000000000000)
BEGIN;
INSERT INTO payment (provider, provider_txn_id, amount, currency, loan_id, status, payer_phone, account_ref, paid_at, received_at, posted_at, note) VALUES ('mpesa', 'PG' || :client_id::text || 'X' || :k::text, 25000, 'KES', NULL, 'received', '+254711000002', 'BIZ0000002', '2026-11-20 09:13:25', now() AT TIME ZONE 'UTC', NULL, '') ON CONFLICT DO NOTHING RETURNING id AS payment_id \gset
INSERT INTO auditevent (at, actor, action, entity, entity_id, data) VALUES (now() AT TIME ZONE 'UTC', 'mpesa', 'payment.received', 'payment', :payment_id::text, ('{"provider": "mpesa", "provider_txn_id": "PG' || :client_id::text || 'X' || :k::text || '", "amount": 25000, "currency": "KES", "account_ref": "BIZ0000002"}')::json) RETURNING id;
INSERT INTO rawcallback (provider, kind, source_ip, body, status, error, payment_id, attempts, received_at, processed_at) VALUES ('mpesa', 'c2b_confirmation', '127.0.0.1', '{"BillRefNumber": "BIZ0000002", "BusinessShortCode": "600966", "FirstName": "BENCH", "InvoiceNumber": "", "LastName": "", "MSISDN": "254711000002", "MiddleName": "", "OrgAccountBalance": "", "ThirdPartyTransID": "", "TransAmount": "250.00", "TransID": "PG' || :client_id::text || 'X' || :k::text || '", "TransTime": "20261120121325", "TransactionType": "Pay Bill"}', 'processed', '', :payment_id::integer, 0, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC') RETURNING id AS raw_id \gset
INSERT INTO auditevent (at, actor, action, entity, entity_id, data) VALUES (now() AT TIME ZONE 'UTC', 'mpesa', 'callback.processed', 'raw_callback', :raw_id::text, ('{"kind": "c2b_confirmation", "payment_id": ' || :payment_id::text || ', "note": ""}')::json) RETURNING id;
COMMIT;
"""


def pgbench_binary() -> str:
    """pgbench on PATH (Debian: /usr/bin/pgbench, a wrapper), else PostgreSQL's own bin folder."""
    found = shutil.which("pgbench") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True)), None)
    if not found:
        raise SystemExit("pgbench not found: on Debian it comes with the server package (apt-get install -y postgresql-15; "
                         "postgresql-client-16 and later ship it too)")
    return str(found)


def run_pgbench(database_url: str, seconds: int, clients: int) -> dict:
    """The callback's transaction shape in a scratch database built by the migrations."""
    base, name = database_url.rsplit("/", 1)
    scratch = f"{base}/{name}_pgbench"
    fresh_schema(scratch)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write(PGBENCH_SCRIPT)
        script = fh.name
    try:
        out = subprocess.run([pgbench_binary(), "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds),
                              "-f", script, libpq_dsn(scratch)], capture_output=True, text=True, timeout=seconds + 120)
    finally:
        os.unlink(script)
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    done = re.search(r"number of transactions actually processed: (\d+)", out.stdout)
    if out.returncode != 0 or not tps:
        raise SystemExit(f"pgbench failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    latency = re.search(r"latency average = ([0-9.]+) ms", out.stdout)
    return {"tps": float(tps.group(1)), "transactions": int(done.group(1)) if done else None,
            "failed": int(failed.group(1)) if failed else 0, "latency_avg_ms": float(latency.group(1)) if latency else None,
            "clients": clients, "seconds": seconds}


def check_stored(dsn: str, expected: dict) -> dict:
    """Without posting: every unique payment stored once, for its amount, and every callback stored."""
    with psycopg.connect(dsn) as conn:
        result = counts(conn, {**{k: LEDGER_COUNTS[k] for k in ("payments", "payment_total_minor", "duplicate_receipts")},
                               "callbacks_stored": "SELECT count(*) FROM rawcallback",
                               "callbacks_not_processed": "SELECT count(*) FROM rawcallback WHERE status <> 'processed'"})
    result["ok"] = (result["payments"] == expected["payments"] and result["duplicate_receipts"] == 0
                    and result["payment_total_minor"] == expected["total_minor"]
                    and result["callbacks_not_processed"] == 0)
    return result


def check_ledger(dsn: str, expected: dict) -> dict:
    with psycopg.connect(dsn) as conn:
        result = counts(conn, {**LEDGER_COUNTS, "callbacks_stored": "SELECT count(*) FROM rawcallback",
                               "intents_paid": "SELECT count(*) FROM paymentintent WHERE status = 'paid'"})
    result["ok"] = (result["payments"] == expected["payments"] == result["posted"]
                    and result["payment_total_minor"] == result["ledger_total_minor"] == expected["total_minor"]
                    and result["payments_not_allocated_in_full"] == 0 and result["duplicate_receipts"] == 0)
    return result


def one_run(args, seed: int) -> dict:
    """Load, send every callback, (post,) check; then pgbench for as long as the acknowledging took."""
    dsn = libpq_dsn(args.database_url)
    gw = args.gunicorn_workers or max(2 // args.web, 1)
    load_s = load_portfolio(args.database_url, args.borrowers)
    import redis
    redis.Redis.from_url(args.redis_url).flushdb()
    streams, expected = build(args, random.Random(seed), dsn)
    print(f"loaded {args.borrowers:,} borrowers with COPY in {load_s:.1f} s; sending {expected['callbacks']:,} callbacks "
          f"({expected['duplicates']:,} duplicates) for {expected['payments']:,} unique payments", flush=True)

    env = {"DATABASE_URL": args.database_url, "REDIS_URL": args.redis_url, "MPESA_CALLBACK_TOKEN": TOKEN,
           "GATEWAY_INSTANCE_PATH": "/tmp/gw-bench-instance"}
    folder = tempfile.mkdtemp(prefix="gw-callbacks-")
    files = write_streams(streams, folder)
    webs = [Gunicorn("wsgi:app", workers=gw, threads=args.threads, env=env, worker_class=args.worker_class)
            for _ in range(args.web)]

    def start_workers() -> list[subprocess.Popen]:
        return [subprocess.Popen([sys.executable, "-m", "rq.cli", "worker", "--worker-class", "rq.worker.SimpleWorker",
                                  "--url", args.redis_url, "--quiet", "payments"], env={**os.environ, **env}, cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(args.workers)]

    workers = start_workers() if args.posting == "during" else []
    web_rss: list[float] = []
    rq_rss: list[float] = []
    posted_s = window = None
    try:
        for w in webs:
            w.wait_ready()
        with open(os.path.join(folder, "cb.lua"), "w") as fh:
            fh.write(LUA)
        cpu_before = sum(w.worker_cpu_seconds() for w in webs)
        started = time.perf_counter()
        # stream n goes to web process n % web: a duplicate is always in the next stream, so with two
        # web processes it reaches the other one at about the same moment as its original
        wrks = [subprocess.Popen(["wrk", "-t", "1", "-c", str(args.connections), "-d", "900s", "--timeout", "10s",
                                  "-s", os.path.join(folder, "cb.lua"), webs[n % len(webs)].url, "--", f],
                                 stdout=subprocess.PIPE, text=True) for n, f in enumerate(files)]
        # wrk runs for its whole -d unless interrupted: stop it once every callback is stored
        with psycopg.connect(dsn, autocommit=True) as conn:
            # (distinct bodies: a stream that is done repeats its last callback until it is stopped)
            while conn.execute("SELECT count(DISTINCT md5(body)) FROM rawcallback").fetchone()[0] < expected["distinct"]:
                if time.perf_counter() - started > 900 or any(p.poll() is not None for p in wrks):
                    break
                time.sleep(0.5)  # (the count reads every body: not too often, it competes for the same cores)
        for p in wrks:
            p.send_signal(signal.SIGINT)
        outs = [p.communicate(timeout=60)[0] for p in wrks]
        with psycopg.connect(dsn) as conn:  # the acknowledgement window, from the stored callbacks themselves
            first, last = conn.execute("SELECT min(received_at), max(received_at) FROM rawcallback").fetchone()
            # The steady rate: the median of the callbacks stored per second, over the seconds at least
            # half as busy as the busiest (the first and last, partial, seconds left out). wrk's
            # streams end unevenly (near its end one stream stalls for seconds, then a finished stream
            # repeats its last callback until stopped): the whole window understates what the web
            # tier sustains. Both are printed.
            per_second = [n for (n,) in conn.execute(
                "SELECT count(*) FROM rawcallback GROUP BY date_trunc('second', received_at) "
                "ORDER BY date_trunc('second', received_at)").fetchall()][1:-1]
        ack_s = (last - first).total_seconds()
        busy = [n for n in per_second if n >= max(per_second, default=0) / 2]
        steady_per_s = statistics.median(busy) if busy else 0.0
        figures = [json.loads(next(ln for ln in o.splitlines() if ln.startswith("WRK_JSON "))[9:]) for o in outs]
        web_rss = [m for w in webs for m in w.worker_peak_rss_mib()]
        web_cpu_s = sum(w.worker_cpu_seconds() for w in webs) - cpu_before
        if args.posting != "skip":  # then wait for the workers to post everything
            if args.posting == "after":
                workers = start_workers()
            with psycopg.connect(dsn, autocommit=True) as conn:
                while conn.execute("SELECT count(*) FROM payment WHERE status = 'received'").fetchone()[0] or \
                        conn.execute("SELECT count(*) FROM rawcallback WHERE status = 'stored'").fetchone()[0]:
                    if time.perf_counter() - started > 1800:
                        raise SystemExit("payments still waiting after 30 minutes")
                    time.sleep(0.5)
            posted_s = time.perf_counter() - started
            rq_rss = [m for m in (peak_rss_mib(p.pid) for p in workers) if m is not None]
            with psycopg.connect(dsn) as conn:  # the posting window, first to last posted_at
                window = float(conn.execute("SELECT extract(epoch FROM max(posted_at) - min(posted_at)) "
                                            "FROM payment").fetchone()[0] or 0)
    finally:
        for w in webs:
            w.stop()
        for p in workers:
            p.terminate()
        for p in workers:
            p.wait(timeout=20)

    check = check_stored(dsn, expected) if args.posting == "skip" else check_ledger(dsn, expected)
    requests = sum(f["requests"] for f in figures)
    accepted = requests - sum(f["non_2xx"] + f["errors"] for f in figures)
    seconds = args.pgbench_seconds or min(max(round(ack_s), 10), 120)
    print(f"acknowledged {accepted:,} in {ack_s:.1f} s ({accepted / ack_s:.0f}/s over the whole window, "
          f"{steady_per_s:.0f}/s steady; web workers' CPU "
          f"{1000 * web_cpu_s / max(accepted, 1):.1f} ms per callback); pgbench for {seconds} s ...", flush=True)
    bench = run_pgbench(args.database_url, seconds, args.pgbench_clients)
    return {"callbacks_sent": requests, "accepted": accepted, "accepted_per_s": round(steady_per_s, 1),
            "accepted_per_s_whole_window": round(accepted / ack_s, 1),
            "ack_p50_ms": max(f["p50_us"] for f in figures) / 1000, "ack_p99_ms": max(f["p99_us"] for f in figures) / 1000,
            "ack_max_ms": max(f["max_us"] for f in figures) / 1000, "ack_seconds": round(ack_s, 2),
            "web_cpu_ms_per_callback": round(1000 * web_cpu_s / max(accepted, 1), 2),
            "posted_per_s": round(check["posted"] / window, 1) if window else None,
            "all_posted_seconds": round(posted_s, 2) if posted_s else None,
            "pgbench_tps": bench["tps"], "ratio": round(steady_per_s / bench["tps"], 4),
            "ratio_whole_window": round(accepted / ack_s / bench["tps"], 4), "pgbench": bench,
            "web_worker_peak_rss_mib": web_rss, "rq_worker_peak_rss_mib": rq_rss,
            "expected": expected, "check": check, "gunicorn": f"-w {gw} -k {args.worker_class} --threads {args.threads}"}


def in_process(args) -> None:
    """New C2B confirmations through the Flask test client, one thread, on the loaded portfolio: ms
    wall, ms CPU and SQL statements per callback; with --profile, cProfile's time by package."""
    load_portfolio(args.database_url, args.borrowers)
    import redis
    redis.Redis.from_url(args.redis_url).flushdb()
    os.environ.update(DATABASE_URL=args.database_url, REDIS_URL=args.redis_url, MPESA_CALLBACK_TOKEN=TOKEN,
                      GATEWAY_INSTANCE_PATH="/tmp/gw-bench-instance", DEMO_MODE="1")
    import collections
    import cProfile
    import pstats

    from sqlalchemy import event

    from gateway.app import create_app
    from gateway.db import get_engine
    client = create_app().test_client()
    rng = random.Random(args.seed)

    def post(k: int) -> None:
        i = rng.randint(1, args.borrowers)
        body = json.dumps(c2b(f"IP{k:08d}", account_ref(i), rng.randint(50, 2000), phone(i)[1:]))
        res = client.post(C2B_PATH, data=body, headers={"Content-Type": "application/json", "X-Callback-Token": TOKEN})
        assert res.status_code == 200, res.data

    for k in range(30):  # warm up: connections, compiled statements
        post(k)
    statements = []
    event.listen(get_engine(), "before_cursor_execute", lambda *a: statements.append(1))
    n = args.in_process
    profiler = cProfile.Profile() if args.profile else None
    started, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for k in range(30, 30 + n):
        post(k)
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"in-process, one thread: {1000 * wall / n:.2f} ms per new C2B confirmation ({1000 * cpu / n:.2f} ms CPU), "
          f"{len(statements) / n:.1f} SQL statements (BEGIN and COMMIT not counted)")
    if profiler:
        by_package: collections.Counter = collections.Counter()
        for (file, _, name), (_, _, own, _, _) in pstats.Stats(profiler).stats.items():
            parts = file.replace("\\", "/").split("/")
            package = next((p for p in ("sqlalchemy", "sqlmodel", "psycopg", "werkzeug", "flask", "redis", "rq",
                                        "pydantic", "gateway", "json", "phonenumbers") if p in parts), None)
            by_package[package or ("built-in " + name if file == "~" else "other")] += own
        total = sum(by_package.values())
        print(f"cProfile (its own overhead included, waits included): {1000 * total / n:.2f} ms per callback")
        for package, own in by_package.most_common(12):
            print(f"  {package:45s} {100 * own / total:5.1f} %  {1000 * own / n:.3f} ms")
    print(json.dumps({"bench": "callbacks_in_process", "callbacks": n, "ms_per_callback": round(1000 * wall / n, 3),
                      "cpu_ms_per_callback": round(1000 * cpu / n, 3), "statements_per_callback": round(len(statements) / n, 2)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--c2b", type=int, default=10_000)
    ap.add_argument("--stk", type=int, default=1_000)
    ap.add_argument("--borrowers", type=int, default=20_000)
    ap.add_argument("--web", type=int, default=1, help="web processes (gunicorn masters), each on its own port")
    ap.add_argument("--gunicorn-workers", type=int, default=0, help="per web process; default 2 / web (`gateway serve`)")
    ap.add_argument("--threads", type=int, default=1, help="per gunicorn worker (gthread only)")
    ap.add_argument("--worker-class", default="sync", help="gunicorn worker class (`gateway serve`: sync)")
    ap.add_argument("--workers", type=int, default=2, help="RQ worker processes posting payments")
    ap.add_argument("--connections", type=int, default=8, help="per wrk process (two per web process)")
    ap.add_argument("--database-url", default=DEFAULT_DB)
    ap.add_argument("--redis-url", default=DEFAULT_REDIS)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=1, help="repetitions (each loads afresh); medians are reported")
    ap.add_argument("--posting", choices=("after", "during", "skip"), default="after",
                    help="after: RQ workers start once every callback is acknowledged (the web tier alone, as with "
                         "workers on other hosts); during: they post while callbacks arrive; skip: no posting, "
                         "check the stored payments only")
    ap.add_argument("--pgbench-clients", type=int, default=16)
    ap.add_argument("--pgbench-seconds", type=int, default=0, help="default: the acknowledgement window (10-120 s)")
    ap.add_argument("--in-process", type=int, default=0, help="time N new C2B confirmations in-process instead")
    ap.add_argument("--profile", action="store_true", help="with --in-process: cProfile's time by package")
    args = ap.parse_args()
    if args.in_process:
        in_process(args)
        return

    runs = [one_run(args, args.seed + k) for k in range(args.runs)]
    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    ack, tps = med("accepted_per_s"), med("pgbench_tps")
    ratio = med("ratio")
    last = runs[-1]
    print(f"\n{args.web} web process(es) x gunicorn {last['gunicorn']}; posting {args.posting}"
          f"{f' ({args.workers} RQ SimpleWorkers)' if args.posting != 'skip' else ''}; "
          f"{2 * args.web} wrk processes x {args.connections} connections; {args.runs} run(s), medians")
    rows = [("acknowledged by the web tier (steady: median of busy seconds)", f"{ack:.0f}/s",
             " ".join(f"{r['accepted_per_s']:.0f}" for r in runs), f"{med('ack_p99_ms'):.1f}", ""),
            ("acknowledged, over the whole window (first to last)", f"{med('accepted_per_s_whole_window'):.0f}/s",
             " ".join(f"{r['accepted_per_s_whole_window']:.0f}" for r in runs), "", f"{med('ack_seconds'):.1f}"),
            (f"pgbench, same transaction shape, {args.pgbench_clients} clients", f"{tps:.0f}/s",
             " ".join(f"{r['pgbench_tps']:.0f}" for r in runs), "", f"{last['pgbench']['seconds']}")]
    if args.posting != "skip":
        rows.append(("posted by RQ (first to last posted_at; seconds: from the first callback)", f"{med('posted_per_s'):.0f}/s", " ".join(f"{r['posted_per_s']:.0f}" for r in runs),
                     "", f"{med('all_posted_seconds'):.1f}"))
    print(table(rows, ("", "rate", "runs", "p99 ms", "seconds")))
    ratios = " ".join(f"{r['ratio']:.1%}" for r in runs)
    print(f"web / pgbench = {ratio:.1%} (runs: {ratios})   "
          f"target: >= 20 %;  web workers' CPU per callback {med('web_cpu_ms_per_callback'):.1f} ms")
    check = last["check"]
    if args.posting == "skip":
        print(f"stored: {check['payments']:,} payments for {check['payment_total_minor'] / 100:,.2f} KES, "
              f"{check['callbacks_stored']:,} callbacks: {'OK' if all(r['check']['ok'] for r in runs) else 'MISMATCH'}")
    else:
        print(f"ledger total {check['ledger_total_minor'] / 100:,.2f} KES = unique payments "
              f"{last['expected']['total_minor'] / 100:,.2f} KES: {'OK' if all(r['check']['ok'] for r in runs) else 'MISMATCH'}; "
              f"duplicate receipts {check['duplicate_receipts']}, payments not allocated in full "
              f"{check['payments_not_allocated_in_full']}")
    print(f"peak RSS MiB: web workers {last['web_worker_peak_rss_mib']}"
          + (f", RQ workers {last['rq_worker_peak_rss_mib']}" if args.posting != "skip" else ""))
    print(json.dumps({"bench": "callbacks", "web_processes": args.web, "posting": args.posting, "runs": args.runs,
                      "accepted_per_s": ack, "pgbench_tps": tps, "ratio": ratio,
                      "posted_per_s": med("posted_per_s") if args.posting != "skip" else None, "all_runs": runs}))
    if not all(r["check"]["ok"] for r in runs):
        sys.exit(1)


if __name__ == "__main__":
    main()
