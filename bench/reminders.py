"""The reminder planner on a large portfolio: 1,000,000 loans (loaded with COPY), one planning run.

    .venv/bin/python bench/reminders.py                  # 1,000,000 borrowers/loans, 4,000,000 installments
    .venv/bin/python bench/reminders.py --loans 20000    # quick

The planner runs in its own process (gateway.workers.reminders.plan_reminders, exactly as RQ's
cron runs it) so its peak RSS is its own; it reports seconds, peak RSS, SQL statements issued
and RQ jobs enqueued (scheduled for the end of quiet hours). Redis db is flushed afterwards:
a million scheduled jobs is a lot of memory to leave in a shared Redis.
Last line: one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402
import redis  # noqa: E402

from bench.common import DEFAULT_DB, DEFAULT_REDIS, ROOT, load_portfolio, table  # noqa: E402

PLANNER = r"""
import json, resource, time
from sqlalchemy import event
from gateway.db import get_engine
from gateway.workers import reminders
statements = []
event.listen(get_engine(), "before_cursor_execute", lambda *a: statements.append(1))
redis_calls = []
from redis.client import Pipeline, Redis
_exec, _pexec = Redis.execute_command, Pipeline.execute
Redis.execute_command = lambda self, *a, **k: (redis_calls.append(1), _exec(self, *a, **k))[1]
Pipeline.execute = lambda self, *a, **k: (redis_calls.append(1), _pexec(self, *a, **k))[1]
started = time.perf_counter()
planned = reminders.plan_reminders()
seconds = time.perf_counter() - started
print("PLANNER_JSON " + json.dumps({"planned": planned, "seconds": round(seconds, 2), "statements": len(statements),
      "redis_round_trips": len(redis_calls), "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def run_planner(env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", PLANNER], env={**os.environ, **env}, cwd=ROOT, capture_output=True,
                         text=True, timeout=1800)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("PLANNER_JSON ")), None)
    if line is None:
        raise SystemExit(f"planner failed:\n{out.stderr[-3000:]}")
    return json.loads(line[len("PLANNER_JSON "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loans", type=int, default=1_000_000)
    ap.add_argument("--installments", type=int, default=4)
    ap.add_argument("--database-url", default=DEFAULT_DB)
    ap.add_argument("--redis-url", default=DEFAULT_REDIS)
    ap.add_argument("--no-load", action="store_true")
    args = ap.parse_args()
    dsn = args.database_url.replace("postgresql+psycopg://", "postgresql://")

    load_s = None
    if not args.no_load:
        load_s = load_portfolio(args.database_url, args.loans, installments=args.installments)
        print(f"loaded {args.loans:,} borrowers and loans, {args.installments * args.loans:,} installments with COPY "
              f"in {load_s:.1f} s")
    r = redis.Redis.from_url(args.redis_url)
    r.flushdb()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM reminder")
    env = {"DATABASE_URL": args.database_url, "REDIS_URL": args.redis_url, "GATEWAY_INSTANCE_PATH": "/tmp/gw-bench-instance"}
    first = run_planner(env)
    scheduled = r.zcard("rq:scheduled:default")
    queued = r.llen("rq:queue:default")
    second = run_planner(env)  # a re-run plans nothing new
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT count(*), count(DISTINCT (borrower_id, local_day)) FROM reminder").fetchone()
    r.flushdb()
    ok = rows[0] == rows[1] == first["planned"] and second["planned"] == 0
    print(f"\nreminder planner, {args.loans:,} loans ({args.installments * args.loans:,} installments)")
    print(table([("first run", f"{first['planned']:,}", first["seconds"], first["peak_rss_mib"], first["statements"],
                  first["redis_round_trips"]),
                 ("re-run", f"{second['planned']:,}", second["seconds"], second["peak_rss_mib"], second["statements"],
                  second["redis_round_trips"])],
                ("", "planned", "seconds", "peak RSS MiB", "SQL statements", "Redis round trips")))
    print(f"jobs enqueued (scheduled for the end of quiet hours): {scheduled + queued:,}; one reminder per borrower and day: "
          f"{'OK' if ok else 'NO'}.  targets: < 60 s, < 1024 MiB")
    print(json.dumps({"bench": "reminders", "loans": args.loans, "installments": args.installments * args.loans,
                      "load_seconds": load_s, "seconds": first["seconds"], "peak_rss_mib": first["peak_rss_mib"],
                      "statements": first["statements"], "redis_round_trips": first["redis_round_trips"],
                      "planned": first["planned"], "jobs_enqueued": scheduled + queued, "rerun": second, "ok": ok}))
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
