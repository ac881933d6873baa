"""Posting a burst: N stored, unposted payments posted by RQ workers, the web tier idle.

    .venv/bin/python bench/posting.py                        # 10,000 payments, `gateway serve`'s worker class
    .venv/bin/python bench/posting.py --payments 2000 --runs 3   # quicker, medians of 3
    .venv/bin/python bench/posting.py --workers 2            # two worker processes (one per core)
    .venv/bin/python bench/posting.py --worker-class rq.worker.Worker   # RQ's forking worker (WORKER_CLASS=fork)
    .venv/bin/python bench/posting.py --payments 500 --in-process   # ms per job, cold (first) and warm, one thread
    .venv/bin/python bench/posting.py --payments 500 --in-process --profile   # pyinstrument over the warm jobs

The burst is what a flood of C2B confirmations leaves behind: N payments stored `received` (as
the callback stores them: provider mpesa, receipt, amount, MSISDN, the account number as typed,
one in seven in lower case) on loans of a 20,000-borrower portfolio, each with its posting job
enqueued exactly as the callback's commit enqueues it (gateway.workers.payments.post_payment, job
id `post_payment-<id>`, queue "payments"). Then the workers start with the worker class `gateway
serve` runs (WORKER_CLASS's default, `simple`: RQ's SimpleWorker, no fork per job; one process by
default), on the "payments" queue only, and post: match the
loan, allocate over installments (ledger entries), audit, queue the receipt SMS, PAYG signal.
The workers listen to "payments" only: the receipt SMS jobs wait in "default" (sending them is
another benchmark, and needs the SMS provider).

Printed: payments posted per second (over the posting window, first to last `posted_at`), the
time from starting the workers until the burst is fully posted, peak RSS of the RQ worker and
of its work horses, and the ledger check: every payment posted once, its entries summing to its
amount, one receipt SMS per payment. Target: >= 350 posted/s. Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402
from rq import Queue  # noqa: E402

from bench.common import (  # noqa: E402
    DEFAULT_DB,
    DEFAULT_REDIS,
    LEDGER_COUNTS,
    NOW,
    ROOT,
    account_ref,
    counts,
    libpq_dsn,
    load_portfolio,
    peak_rss_mib,
    phone,
    table,
)
from gateway.jobs import POST_PAYMENT  # noqa: E402

POST_JOB, QUEUE = POST_PAYMENT.func, POST_PAYMENT.queue


def store_burst(dsn: str, redis_url: str, payments: int, borrowers: int, rng: random.Random) -> int:
    """N received payments (COPY) and their posting jobs (one Redis pipeline). Returns the total, minor units."""
    total = 0
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy("COPY payment (id, provider, provider_txn_id, amount, currency, status, payer_phone, account_ref, "
                      "paid_at, received_at, note) FROM STDIN") as cp:
            for k in range(1, payments + 1):
                i = rng.randint(1, borrowers)
                amount = 100 * rng.randint(50, 2000)
                total += amount
                ref = account_ref(i).lower() if k % 7 == 0 else account_ref(i)
                cp.write_row((k, "mpesa", f"RB{k:08d}", amount, "KES", "received", phone(i), ref, NOW, NOW, ""))
        cur.execute("SELECT setval(pg_get_serial_sequence('payment', 'id'), %s)", (payments,))
    queue = Queue(QUEUE, connection=redis.Redis.from_url(redis_url))
    for start in range(1, payments + 1, 1000):
        ids = range(start, min(start + 1000, payments + 1))
        queue.enqueue_many([Queue.prepare_data(POST_JOB, args=(pid,), job_id=POST_PAYMENT.id(pid)) for pid in ids])
    return total


def check(dsn: str, payments: int, total: int) -> dict:
    with psycopg.connect(dsn) as conn:
        result = counts(conn, {**{k: LEDGER_COUNTS[k] for k in (
            "payments", "posted", "payment_total_minor", "ledger_total_minor", "payments_not_allocated_in_full")},
            "posted_audits": "SELECT count(*) FROM auditevent WHERE action = 'payment.posted'",
            "receipts_queued": "SELECT count(*) FROM message WHERE template = 'payment_receipt'"})
        window = conn.execute("SELECT extract(epoch FROM max(posted_at) - min(posted_at)) FROM payment").fetchone()[0]
    result["ok"] = (result["payments"] == result["posted"] == result["posted_audits"] == payments
                    and result["payment_total_minor"] == result["ledger_total_minor"] == total
                    and result["payments_not_allocated_in_full"] == 0 and result["receipts_queued"] == payments)
    result["posting_window_s"] = float(window or 0)
    return result


def one_run(args, seed: int) -> dict:
    dsn = libpq_dsn(args.database_url)
    load_s = load_portfolio(args.database_url, args.borrowers)
    redis.Redis.from_url(args.redis_url).flushdb()
    total = store_burst(dsn, args.redis_url, args.payments, args.borrowers, random.Random(seed))
    print(f"loaded {args.borrowers:,} borrowers in {load_s:.1f} s; {args.payments:,} payments stored, their jobs "
          f"enqueued; starting {args.workers} x {args.worker_class}", flush=True)
    env = {**os.environ, "DATABASE_URL": args.database_url, "REDIS_URL": args.redis_url,
           "GATEWAY_INSTANCE_PATH": "/tmp/gw-bench-instance"}
    cmd = [sys.executable, "-m", "rq.cli", "worker", "--with-scheduler", "--worker-class", args.worker_class,
           "--url", args.redis_url, "--quiet", QUEUE]
    started = time.perf_counter()
    workers = [subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(args.workers)]
    child_rss = 0.0
    worker_rss: list[float] = []
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            while conn.execute("SELECT count(*) FROM payment WHERE status = 'received'").fetchone()[0]:
                if time.perf_counter() - started > args.timeout:
                    raise SystemExit(f"payments still waiting after {args.timeout} s")
                for w in workers:  # work horses (forking Worker) live for one job: sample them (and the scheduler)
                    try:
                        for child in psutil.Process(w.pid).children():
                            child_rss = max(child_rss, child.memory_info().rss / 2**20)
                    except psutil.NoSuchProcess:
                        pass
                if any(w.poll() is not None for w in workers):
                    raise SystemExit("an RQ worker stopped")
                time.sleep(0.25)
        all_posted_s = time.perf_counter() - started
        worker_rss = [m for m in (peak_rss_mib(w.pid) for w in workers) if m is not None]
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=30)
    result = check(dsn, args.payments, total)
    rate = args.payments / result["posting_window_s"] if result["posting_window_s"] else 0.0
    print(f"  posted {args.payments:,} in {all_posted_s:.1f} s from the workers' start; {rate:.0f}/s over the posting "
          f"window ({result['posting_window_s']:.1f} s); ledger {'OK' if result['ok'] else 'MISMATCH'}", flush=True)
    return {"posted_per_s": round(rate, 1), "all_posted_seconds": round(all_posted_s, 2),
            "posting_window_s": round(result["posting_window_s"], 2), "worker_peak_rss_mib": worker_rss,
            "child_peak_rss_mib": round(child_rss, 1) or None, "check": result, "total_minor": total}


def in_process(args) -> None:
    """The job function itself, in this process: the first job cold (imports, first connection, mapper
    set-up, compiled-statement caches: what every forked work horse pays), then the rest warm."""
    dsn = libpq_dsn(args.database_url)
    load_portfolio(args.database_url, args.borrowers)
    redis.Redis.from_url(args.redis_url).flushdb()
    total = store_burst(dsn, args.redis_url, args.payments, args.borrowers, random.Random(args.seed))
    os.environ.update(DATABASE_URL=args.database_url, REDIS_URL=args.redis_url, GATEWAY_INSTANCE_PATH="/tmp/gw-bench-instance")
    started = time.perf_counter()
    from gateway.workers.payments import post_payment
    imported = time.perf_counter()
    post_payment(1)
    cold = time.perf_counter()
    from sqlalchemy import event

    from gateway.db import get_engine
    statements = []
    event.listen(get_engine(), "before_cursor_execute", lambda *a: statements.append(1))
    profiler = None
    if args.profile:
        from pyinstrument import Profiler
        profiler = Profiler(interval=0.0005)
        profiler.start()
    cpu = time.process_time()
    for pid in range(2, args.payments + 1):
        post_payment(pid)
    warm_s, warm_cpu = time.perf_counter() - cold, time.process_time() - cpu
    if profiler:
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    result = check(dsn, args.payments, total)
    n = args.payments - 1
    print(f"import {1000 * (imported - started):.0f} ms; first job {1000 * (cold - imported):.0f} ms; then "
          f"{1000 * warm_s / n:.2f} ms per job ({1000 * warm_cpu / n:.2f} ms CPU in this process, "
          f"{len(statements) / n:.1f} SQL statements), "
          f"{n / warm_s:.0f} jobs/s on one thread; ledger {'OK' if result['ok'] else 'MISMATCH'}")
    print(json.dumps({"bench": "posting_in_process", "payments": args.payments, "import_ms": round(1000 * (imported - started)),
                      "first_job_ms": round(1000 * (cold - imported)), "warm_ms_per_job": round(1000 * warm_s / n, 2),
                      "warm_cpu_ms_per_job": round(1000 * warm_cpu / n, 2),
                      "statements_per_job": round(len(statements) / n, 1), "ok": result["ok"]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--payments", type=int, default=10_000)
    ap.add_argument("--borrowers", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=1, help="RQ worker processes (`gateway serve`: 1)")
    ap.add_argument("--worker-class", default="rq.worker.SimpleWorker",
                    help="rq.worker.SimpleWorker (no fork: `gateway serve`'s default, WORKER_CLASS=simple), "
                         "rq.worker.Worker (forks a work horse per job, WORKER_CLASS=fork), or "
                         "bench.rq_preload.PreloadedWorker (forks, the gateway imported before)")
    ap.add_argument("--runs", type=int, default=1, help="repetitions (each loads afresh); medians are reported")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds before giving up on a run")
    ap.add_argument("--database-url", default=DEFAULT_DB)
    ap.add_argument("--redis-url", default=DEFAULT_REDIS)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--in-process", action="store_true", help="run the job function in this process instead")
    ap.add_argument("--profile", action="store_true", help="with --in-process: pyinstrument over the warm jobs")
    args = ap.parse_args()
    if args.in_process:
        in_process(args)
        return

    runs = [one_run(args, args.seed + k) for k in range(args.runs)]
    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    last = runs[-1]
    print(f"\n{args.payments:,} stored payments, {args.workers} x {args.worker_class} on queue '{QUEUE}', "
          f"web tier idle; {args.runs} run(s), medians")
    print(table([("posted/s (posting window)", f"{med('posted_per_s'):.0f}", " ".join(f"{r['posted_per_s']:.0f}" for r in runs)),
                 ("seconds until all posted", f"{med('all_posted_seconds'):.1f}",
                  " ".join(f"{r['all_posted_seconds']:.1f}" for r in runs))],
                ("", "median", "runs")))
    c = last["check"]
    ok = all(r["check"]["ok"] for r in runs)
    print(f"ledger: {c['posted']:,} of {c['payments']:,} posted, entries {c['ledger_total_minor'] / 100:,.2f} KES = payments "
          f"{c['payment_total_minor'] / 100:,.2f} KES, {c['payments_not_allocated_in_full']} not allocated in full, "
          f"{c['receipts_queued']:,} receipt SMS queued: {'OK' if ok else 'MISMATCH'}")
    print(f"peak RSS MiB: RQ worker {last['worker_peak_rss_mib']}, its children (work horses, scheduler; sampled) "
          f"{last['child_peak_rss_mib']}   "
          f"target: >= 350 posted/s")
    print(json.dumps({"bench": "posting", "payments": args.payments, "workers": args.workers,
                      "worker_class": args.worker_class, "runs": args.runs, "posted_per_s": med("posted_per_s"),
                      "all_posted_seconds": med("all_posted_seconds"), "ok": ok, "all_runs": runs}))
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
