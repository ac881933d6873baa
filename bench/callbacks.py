"""M-Pesa callbacks under load: Daraja C2B confirmations (10 % duplicates, fired at the same time
as their originals) and STK callbacks, acknowledged by gunicorn and posted by RQ workers.

    .venv/bin/python bench/callbacks.py                     # 10,000 C2B + 1,000 STK, 1 web, 2 workers
    .venv/bin/python bench/callbacks.py --web 2 --workers 2 # scaling out: two web processes, two workers
    .venv/bin/python bench/callbacks.py --c2b 1000 --stk 100 --borrowers 2000   # quick

wrk sends every callback once (plus the duplicates); with --web 2 each web process gets its own
wrk and a duplicate always goes to the *other* process than its original. Afterwards the ledger
is checked: total == sum of unique payments, every payment allocated in full, none twice.
Last line: one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from bench.common import DEFAULT_DB, DEFAULT_REDIS, NOW, ROOT, Gunicorn, account_ref, load_portfolio, phone, table  # noqa: E402

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
""" % TOKEN


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


def check_ledger(dsn: str, expected: dict) -> dict:
    with psycopg.connect(dsn) as conn:
        q = lambda sql: int(conn.execute(sql).fetchone()[0])  # noqa: E731
        result = {
            "payments": q("SELECT count(*) FROM payment"),
            "posted": q("SELECT count(*) FROM payment WHERE status = 'posted'"),
            "payment_total_minor": q("SELECT coalesce(sum(amount), 0) FROM payment"),
            "ledger_total_minor": q("SELECT coalesce(sum(amount), 0) FROM ledgerentry"),
            "payments_not_allocated_in_full": q(
                "SELECT count(*) FROM payment p LEFT JOIN (SELECT payment_id, sum(amount) s FROM ledgerentry "
                "GROUP BY payment_id) e ON e.payment_id = p.id WHERE coalesce(e.s, 0) <> p.amount"),
            "duplicate_receipts": q("SELECT count(*) - count(DISTINCT provider_txn_id) FROM payment"),
            "callbacks_stored": q("SELECT count(*) FROM rawcallback"),
            "intents_paid": q("SELECT count(*) FROM paymentintent WHERE status = 'paid'"),
        }
    result["ok"] = (result["payments"] == expected["payments"] == result["posted"]
                    and result["payment_total_minor"] == result["ledger_total_minor"] == expected["total_minor"]
                    and result["payments_not_allocated_in_full"] == 0 and result["duplicate_receipts"] == 0)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--c2b", type=int, default=10_000)
    ap.add_argument("--stk", type=int, default=1_000)
    ap.add_argument("--borrowers", type=int, default=20_000)
    ap.add_argument("--web", type=int, default=1, help="web processes (gunicorn masters), each on its own port")
    ap.add_argument("--gunicorn-workers", type=int, default=0, help="per web process; default 4 / web")
    ap.add_argument("--threads", type=int, default=4, help="per gunicorn worker (gthread only)")
    ap.add_argument("--worker-class", default="gthread")
    ap.add_argument("--workers", type=int, default=2, help="RQ worker processes posting payments")
    ap.add_argument("--connections", type=int, default=8, help="per wrk process (two per web process)")
    ap.add_argument("--database-url", default=DEFAULT_DB)
    ap.add_argument("--redis-url", default=DEFAULT_REDIS)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--post-after", action="store_true",
                    help="start the RQ workers only once every callback is acknowledged (posting workers on other "
                         "hosts): the acknowledgement rate of the web tier alone")
    args = ap.parse_args()
    dsn = args.database_url.replace("postgresql+psycopg://", "postgresql://")
    gw = args.gunicorn_workers or max(4 // args.web, 1)

    load_s = load_portfolio(args.database_url, args.borrowers)
    import redis
    redis.Redis.from_url(args.redis_url).flushdb()
    streams, expected = build(args, random.Random(args.seed), dsn)
    print(f"loaded {args.borrowers:,} borrowers with COPY in {load_s:.1f} s; sending {expected['callbacks']:,} callbacks "
          f"({expected['duplicates']:,} duplicates) for {expected['payments']:,} unique payments")

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

    workers = [] if args.post_after else start_workers()
    try:
        for w in webs:
            w.wait_ready()
        with open(os.path.join(folder, "cb.lua"), "w") as fh:
            fh.write(LUA)
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
        ack_s = (last - first).total_seconds()
        figures = [json.loads(next(l for l in o.splitlines() if l.startswith("WRK_JSON "))[9:]) for o in outs]
        # then wait for the workers to post everything
        if args.post_after:
            workers = start_workers()
        with psycopg.connect(dsn, autocommit=True) as conn:
            while conn.execute("SELECT count(*) FROM payment WHERE status = 'received'").fetchone()[0] or \
                    conn.execute("SELECT count(*) FROM rawcallback WHERE status = 'stored'").fetchone()[0]:
                if time.perf_counter() - started > 900:
                    raise SystemExit("payments still waiting after 15 minutes")
                time.sleep(0.5)
        posted_s = time.perf_counter() - started
    finally:
        for w in webs:
            w.stop()
        for p in workers:
            p.terminate()
        for p in workers:
            p.wait(timeout=20)

    check = check_ledger(dsn, expected)
    requests = sum(f["requests"] for f in figures)
    accepted = requests - sum(f["non_2xx"] + f["errors"] for f in figures)
    p99 = max(f["p99_us"] for f in figures) / 1000
    print(f"\n{args.web} web process(es) x gunicorn -w {gw} -k {args.worker_class} --threads {args.threads}; {args.workers} RQ workers; "
          f"{len(files)} wrk processes x {args.connections} connections")
    print(table([("acknowledged", f"{requests:,}", f"{accepted / ack_s:.0f}/s", f"{p99:.1f}", f"{ack_s:.1f}"),
                 ("posted", f"{check['posted']:,}", f"{check['posted'] / posted_s:.0f}/s", "", f"{posted_s:.1f}")],
                ("", "count", "rate", "p99 ms", "seconds")))
    print(f"ledger total {check['ledger_total_minor'] / 100:,.2f} KES = unique payments {expected['total_minor'] / 100:,.2f} KES: "
          f"{'OK' if check['ok'] else 'MISMATCH'}; duplicate receipts {check['duplicate_receipts']}, "
          f"payments not allocated in full {check['payments_not_allocated_in_full']}.  target: >= 500 callbacks/s")
    print(json.dumps({"bench": "callbacks", "web_processes": args.web, "post_after": args.post_after, "gunicorn": f"-w {gw} -k {args.worker_class} --threads {args.threads}",
                      "rq_workers": args.workers, "callbacks_sent": requests, "accepted": accepted,
                      "accepted_per_s": round(accepted / ack_s, 1), "ack_p50_ms": max(f["p50_us"] for f in figures) / 1000,
                      "ack_p99_ms": p99, "ack_max_ms": max(f["max_us"] for f in figures) / 1000, "ack_seconds": round(ack_s, 2),
                      "posted_per_s": round(check["posted"] / posted_s, 1), "all_posted_seconds": round(posted_s, 2),
                      "expected": expected, "ledger": check}))
    if not check["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
