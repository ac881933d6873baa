"""USSD under load: the real app under gunicorn on PostgreSQL, driven by wrk over loopback.

    .venv/bin/python bench/ussd.py                       # 100,000 borrowers, 3 runs of 20 s
    .venv/bin/python bench/ussd.py --borrowers 5000 --duration 5 --runs 1   # quick
    .venv/bin/python bench/ussd.py --profile 2000        # pyinstrument over 2,000 in-process hops

Each wrk request is one hop of a random borrower walking a random menu path (the cumulative
`text` AT sends); the same wrk settings then hit a bare Flask handler under the same gunicorn
settings, and the ratio is printed. Last line: one JSON object with the figures (medians).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (DEFAULT_DB, DEFAULT_REDIS, Gunicorn, load_portfolio, median_of, phone,  # noqa: E402
                          run_wrk, table)

# What borrowers do: mostly the menu, balance and next payment; some walk into "pay now".
MENU_PATHS = ["", "", "", "1", "1", "2", "2", "3", "4", "3*2", "3*2*500", "3*1", "5", "1*00", "2*0"]


def wrk_script(borrowers: int) -> str:
    paths = ", ".join(json.dumps(p) for p in MENU_PATHS)
    return f"""
local paths = {{{paths}}}
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
init = function(args)
  math.randomseed(os.time() + tonumber(tostring({{}}):sub(8), 16) % 100000)
end
request = function()
  n = n + 1
  local i = math.random(1, {borrowers})
  local p = paths[math.random(1, #paths)]
  local body = string.format("sessionId=ATUid_%d_%d&serviceCode=%%2A384%%2A1234%%23&phoneNumber=%%2B2547%08d&networkCode=63902&text=%s",
                             i, n, 11000000 + i, p:gsub("%*", "%%2A"))
  return wrk.format(nil, "/ussd", nil, body)
end
"""


def _in_process(args, env: dict, n: int):
    os.environ.update(env)
    from sqlalchemy import event

    from gateway import create_app
    from gateway.db import get_engine
    client = create_app().test_client()
    rng = random.Random(1)
    hops = [(phone(rng.randint(1, args.borrowers)), rng.choice(MENU_PATHS)) for _ in range(n)]
    for p, t in hops[:50]:  # warm up caches and the connection pool
        client.post("/ussd", data={"sessionId": "ATUid_warm", "phoneNumber": p, "text": t})
    statements = []
    event.listen(get_engine(), "before_cursor_execute", lambda *a: statements.append(1))
    return client, hops, statements


def in_process(args, env: dict) -> None:
    """Hops through the Flask test client, one thread: CPU per hop and statements per hop."""
    client, hops, statements = _in_process(args, env, args.in_process)
    timings = []
    for _ in range(5):
        statements.clear()
        started = time.perf_counter()
        for k, (p, t) in enumerate(hops):
            client.post("/ussd", data={"sessionId": f"ATUid_i{k}", "phoneNumber": p, "text": t})
        timings.append(time.perf_counter() - started)
    best, median = min(timings), sorted(timings)[2]
    print(f"in-process, one thread: median {1000 * median / len(hops):.2f} ms per hop "
          f"(best {1000 * best / len(hops):.2f}), {len(statements) / len(hops):.1f} SQL statements per hop")
    print(json.dumps({"bench": "ussd_in_process", "ms_per_hop_median": round(1000 * median / len(hops), 3),
                      "ms_per_hop_best": round(1000 * best / len(hops), 3),
                      "statements_per_hop": round(len(statements) / len(hops), 2)}))


def profile(args, env: dict) -> None:
    from pyinstrument import Profiler

    client, hops, _ = _in_process(args, env, args.profile)
    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    with profiler:
        for k, (p, t) in enumerate(hops):
            assert client.post("/ussd", data={"sessionId": f"ATUid_p{k}", "phoneNumber": p, "text": t}).status_code == 200
    elapsed = time.perf_counter() - started
    print(profiler.output_text(unicode=False, color=False, show_all=False))
    print(f"in-process: {len(hops) / elapsed:.0f} hops/s on one core, {1000 * elapsed / len(hops):.2f} ms per hop")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--borrowers", type=int, default=100_000)
    ap.add_argument("--duration", type=int, default=20, help="seconds per wrk run")
    ap.add_argument("--runs", type=int, default=3, help="repetitions; medians are reported")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    ap.add_argument("--threads", type=int, default=2, help="gunicorn threads per worker (gthread)")
    ap.add_argument("--worker-class", default="gthread")
    ap.add_argument("--database-url", default=DEFAULT_DB)
    ap.add_argument("--redis-url", default=DEFAULT_REDIS)
    ap.add_argument("--in-process", type=int, default=0, help="time N hops in-process (5 repetitions) instead")
    ap.add_argument("--no-rate-limits", action="store_true", help="switch the Redis rate limits off (to measure their cost)")
    ap.add_argument("--no-load", action="store_true", help="reuse the portfolio already in the database")
    ap.add_argument("--profile", type=int, default=0, help="profile N in-process hops instead of the load test")
    args = ap.parse_args()

    env = {"DATABASE_URL": args.database_url, "REDIS_URL": args.redis_url,
           # all of wrk's traffic comes from 127.0.0.1: the per-IP limit would stop the run
           "USSD_LIMIT_PER_IP": "10000000/minute", "GATEWAY_INSTANCE_PATH": "/tmp/gw-bench-instance",
           "AT_ALLOWED_IPS": "127.0.0.1",  # wrk and the in-process client stand where AT's callbacks come from
           "RATE_LIMITS_ENABLED": "0" if args.no_rate_limits else "1"}
    load_s = None
    if not args.no_load:
        load_s = load_portfolio(args.database_url, args.borrowers)
        print(f"loaded {args.borrowers:,} borrowers, loans and {4 * args.borrowers:,} installments with COPY "
              f"in {load_s:.1f} s")
    import redis
    redis.Redis.from_url(args.redis_url).flushdb()
    if args.profile:
        profile(args, env)
        return
    if args.in_process:
        in_process(args, env)
        return

    settings = dict(workers=args.workers, threads=args.threads, worker_class=args.worker_class)
    results = {}
    for name, app in (("gateway", "wsgi:app"), ("bare", "bench.bare_app:app")):
        runs = []
        with Gunicorn(app, env=env, **settings) as server:
            run_wrk(server.url, wrk_script(args.borrowers), 2, args.connections)  # warm-up: pools, caches
            for _ in range(args.runs):
                runs.append(run_wrk(server.url, wrk_script(args.borrowers), args.duration, args.connections))
        results[name] = {**median_of(runs), "runs": runs}
    g, b = results["gateway"], results["bare"]
    ratio = g["rps"] / b["rps"]
    print(f"\ngunicorn -w {args.workers} -k {args.worker_class} --threads {args.threads}; wrk -c {args.connections}, "
          f"{args.runs} x {args.duration} s (medians); {args.borrowers:,} borrowers")
    print(table([(n, f"{r['rps']:.0f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['max_ms']:.1f}", int(r["errors"]))
                 for n, r in (("USSD app", g), ("bare Flask", b))],
                ("", "hops/s", "p50 ms", "p99 ms", "max ms", "errors")))
    print(f"app / bare = {ratio:.0%}   targets: >= 1,000 hops/s, p99 < 50 ms, >= 50 % of bare")
    print(json.dumps({"bench": "ussd", "borrowers": args.borrowers, "load_seconds": load_s,
                      "rate_limits": not args.no_rate_limits,
                      "gunicorn": f"-w {args.workers} -k {args.worker_class} --threads {args.threads}",
                      "connections": args.connections, "duration_s": args.duration, "runs": args.runs,
                      "hops_per_s": round(g["rps"], 1), "p50_ms": g["p50_ms"], "p99_ms": g["p99_ms"],
                      "max_ms": g["max_ms"], "errors": int(g["errors"]), "bare_per_s": round(b["rps"], 1),
                      "bare_p99_ms": b["p99_ms"], "ratio": round(ratio, 3),
                      "all_runs": {"gateway": g["runs"], "bare": b["runs"]}}))


if __name__ == "__main__":
    main()
