"""USSD under load: the real app under gunicorn on PostgreSQL, driven by wrk over loopback.

    .venv/bin/python bench/ussd.py                       # 100,000 borrowers, 3 runs of 20 s
    .venv/bin/python bench/ussd.py --borrowers 5000 --duration 5 --runs 1   # quick
    .venv/bin/python bench/ussd.py --profile 2000        # pyinstrument over 2,000 in-process hops
    .venv/bin/python bench/ussd.py --peer                # main menu + balance: ours, the ussd-menu-builder peer, bare

Each wrk request is one hop of a random borrower walking a random menu path (the cumulative
`text` AT sends); the same wrk settings also hit a bare Flask handler under the same gunicorn
settings. All servers run at once and their runs are interleaved (round k: each server once, the
order rotating), so a busy machine slows them alike; the ratio printed is the median of the
rounds' ratios. With --peer the sessions walk the main menu and the balance screen only ("" then
"1"), and the same rounds also hit the Node peer in bench/peers/ (installed with `npm ci`).
Afterwards: the peak RSS of each web worker. Last line: one JSON object with the
figures (medians).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    DEFAULT_DB,
    DEFAULT_REDIS,
    Gunicorn,
    ServerProcess,
    child_pids,
    cpu_seconds,
    free_port,
    libpq_dsn,
    load_portfolio,
    median_of,
    peak_rss_mib,
    phone,
    run_wrk,
    table,
)

# What borrowers do: mostly the menu, balance and next payment; some walk into "pay now".
MENU_PATHS = ["", "", "", "1", "1", "2", "2", "3", "4", "3*2", "3*2*500", "3*1", "5", "1*00", "2*0"]
# --peer: what both apps serve: dial (the main menu, a database read), then 1 (the balance, from the session)
PEER_PATHS = ["1"]
PEER_DIR = Path(__file__).resolve().parent / "peers" / "ussd-menu-builder"


class NodePeer(ServerProcess):
    """The ussd-menu-builder peer (bench/peers/ussd-menu-builder), `workers` Node processes (cluster)
    on a free loopback port; its dependencies installed with `npm ci` from the committed lock file."""

    def __init__(self, workers: int, database_url: str, redis_url: str):
        if not (PEER_DIR / "node_modules" / "ussd-menu-builder").exists():
            if not shutil.which("npm"):
                raise SystemExit("--peer needs Node.js 18+ and npm (Debian: apt-get install -y nodejs npm)")
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(["node", "server.js"], cwd=PEER_DIR, env={
            **os.environ, "PORT": str(self.port), "WORKERS": str(workers), "DATABASE_URL": libpq_dsn(database_url),
            "REDIS_URL": redis_url})

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/health", timeout=5).read()
                time.sleep(2)
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the peer did not start")

    def worker_peak_rss_mib(self) -> list[float]:
        return [m for m in map(peak_rss_mib, child_pids(self.proc.pid) or [self.proc.pid]) if m is not None]

    def worker_cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in child_pids(self.proc.pid) or [self.proc.pid])



def post_hop(url: str, session_id: str, e164: str, text: str) -> str:
    body = urllib.parse.urlencode({"sessionId": session_id, "serviceCode": "*384*1234#", "phoneNumber": e164,
                                   "networkCode": "63902", "text": text}).encode()
    return urllib.request.urlopen(urllib.request.Request(url + "/ussd", data=body), timeout=10).read().decode()


def same_screens(url_a: str, url_b: str, borrowers: int, n: int = 20) -> list[str]:
    """Both apps walk the same sessions; the screens that differ (none, if the peer is the same menu)."""
    differ = []
    for k in range(n):
        i = 1 + (k * 7919) % borrowers
        for text in ("", "1"):
            a = post_hop(url_a, f"ATUid_check_a_{k}", phone(i), text)
            b = post_hop(url_b, f"ATUid_check_b_{k}", phone(i), text)
            if a != b:
                differ.append(f"borrower {i} text {text!r}:\n{a}\n--- peer:\n{b}")
    return differ


def wrk_script(borrowers: int, walkers: int, fresh_sessions: bool = False, menu_paths: list[str] = MENU_PATHS) -> str:
    """Sessions as Africa's Talking sends them: a borrower dials (text ""), then each choice is one
    more hop of the same sessionId with the cumulative text ("3", "3*2", "3*2*500"), until the path
    is walked; then that walker dials again as another borrower. One walker per wrk connection.
    `fresh_sessions`: every hop is a new session (the worst case: every hop reads the database)."""
    paths = ", ".join(json.dumps(p) for p in menu_paths)
    return f"""
local paths = {{{paths}}}
local fresh = {str(fresh_sessions).lower()}
local walkers = {{}}
local n, sessions = 0, 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
init = function(args)
  math.randomseed(os.time() + tonumber(tostring({{}}):sub(8), 16) % 100000)
  for k = 1, {walkers} do walkers[k] = {{step = 1, parts = {{}}}} end
end
local function dial(w)
  sessions = sessions + 1
  w.borrower = math.random(1, {borrowers})
  w.session = "ATUid_" .. w.borrower .. "_" .. sessions .. "_" .. math.random(1, 1000000000)
  w.parts = {{}}
  for part in string.gmatch(paths[math.random(1, #paths)], "[^*]+") do w.parts[#w.parts + 1] = part end
  w.step = 0
end
request = function()
  n = n + 1
  local w = walkers[(n % #walkers) + 1]
  if w.step >= #w.parts then dial(w) else w.step = w.step + 1 end
  if fresh then w.step = #w.parts end
  local text = table.concat(w.parts, "%2A", 1, w.step)
  local body = string.format("sessionId=%s&serviceCode=%%2A384%%2A1234%%23&phoneNumber=%%2B2547%08d&networkCode=63902&text=%s",
                             w.session, 11000000 + w.borrower, text)
  return wrk.format(nil, "/ussd", nil, body)
end
"""


def session_hops(rng: random.Random, borrowers: int, n: int, fresh_sessions: bool,
                 menu_paths: list[str] = MENU_PATHS) -> list[tuple[str, str, str]]:
    """n hops (sessionId, phone, text), walked as `wrk_script` walks them, one session after another."""
    hops: list[tuple[str, str, str]] = []
    while len(hops) < n:
        borrower, parts = rng.randint(1, borrowers), [p for p in rng.choice(menu_paths).split("*") if p]
        session_id = f"ATUid_{borrower}_{len(hops)}_{rng.randrange(10**9)}"
        for step in ([len(parts)] if fresh_sessions else range(len(parts) + 1)):
            hops.append((session_id, phone(borrower), "*".join(parts[:step])))
    return hops[:n]


def _paths(args) -> list[str]:
    return PEER_PATHS if args.peer else MENU_PATHS


def _in_process(args, env: dict, n: int):
    os.environ.update(env)
    os.environ.setdefault("DEMO_MODE", "1")
    from sqlalchemy import event

    from gateway.app import create_app
    from gateway.db import get_engine
    client = create_app().test_client()
    rng = random.Random(1)
    for session_id, p, t in session_hops(rng, args.borrowers, 50, args.fresh_sessions, _paths(args)):  # warm up
        client.post("/ussd", data={"sessionId": session_id, "phoneNumber": p, "text": t})
    statements = []
    event.listen(get_engine(), "before_cursor_execute", lambda *a: statements.append(1))
    return client, rng, statements


def in_process(args, env: dict) -> None:
    """Hops through the Flask test client, one thread: CPU per hop and statements per hop."""
    client, rng, statements = _in_process(args, env, args.in_process)
    timings, cpu, counted = [], [], 0
    for _ in range(5):
        hops = session_hops(rng, args.borrowers, args.in_process, args.fresh_sessions, _paths(args))  # new sessions
        started, cpu_started = time.perf_counter(), time.process_time()
        for session_id, p, t in hops:
            client.post("/ussd", data={"sessionId": session_id, "phoneNumber": p, "text": t})
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
        counted += len(hops)
    n = args.in_process
    median, best, cpu_median = sorted(timings)[2], min(timings), sorted(cpu)[2]
    print(f"in-process, one thread: median {1000 * median / n:.2f} ms per hop (best {1000 * best / n:.2f}, "
          f"this process's CPU {1000 * cpu_median / n:.2f}), {len(statements) / counted:.2f} SQL statements per hop")
    print(json.dumps({"bench": "ussd_in_process", "fresh_sessions": args.fresh_sessions,
                      "ms_per_hop_median": round(1000 * median / n, 3), "ms_per_hop_best": round(1000 * best / n, 3),
                      "cpu_ms_per_hop_median": round(1000 * cpu_median / n, 3),
                      "statements_per_hop": round(len(statements) / counted, 2)}))


def profile(args, env: dict) -> None:
    from pyinstrument import Profiler

    client, rng, _ = _in_process(args, env, args.profile)
    hops = session_hops(rng, args.borrowers, args.profile, args.fresh_sessions, _paths(args))
    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    with profiler:
        for session_id, p, t in hops:
            assert client.post("/ussd", data={"sessionId": session_id, "phoneNumber": p, "text": t}).status_code == 200
    elapsed = time.perf_counter() - started
    print(profiler.output_text(unicode=False, color=False, show_all=False))
    print(f"in-process: {len(hops) / elapsed:.0f} hops/s on one core, {1000 * elapsed / len(hops):.2f} ms per hop")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--borrowers", type=int, default=100_000)
    ap.add_argument("--duration", type=int, default=20, help="seconds per wrk run")
    ap.add_argument("--runs", type=int, default=3, help="repetitions; medians are reported")
    ap.add_argument("--connections", type=int, default=16)
    # Measured on 2 cores: 2 sync workers beat 4 x 2 and 2 x 4 gthread by 1.5-2x (threads of one
    # process share one GIL; a sync worker is one busy core), and beat 3-6 sync workers too.
    ap.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    ap.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (gthread only)")
    ap.add_argument("--worker-class", default="sync")
    ap.add_argument("--database-url", default=DEFAULT_DB)
    ap.add_argument("--redis-url", default=DEFAULT_REDIS)
    ap.add_argument("--in-process", type=int, default=0, help="time N hops in-process (5 repetitions) instead")
    ap.add_argument("--no-rate-limits", action="store_true", help="switch the Redis rate limits off (to measure their cost)")
    ap.add_argument("--no-load", action="store_true", help="reuse the portfolio already in the database")
    ap.add_argument("--profile", type=int, default=0, help="profile N in-process hops instead of the load test")
    ap.add_argument("--fresh-sessions", action="store_true",
                    help="every hop a new USSD session (worst case: every hop reads the database)")
    ap.add_argument("--peer", action="store_true",
                    help="main menu + balance only, and the same runs against the ussd-menu-builder peer (Node)")
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
    paths = _paths(args)
    script = wrk_script(args.borrowers, args.connections, args.fresh_sessions, paths)
    servers = {"gateway": lambda: Gunicorn("wsgi:app", env=env, **settings)}
    if args.peer:
        servers["peer"] = lambda: NodePeer(args.workers, args.database_url, args.redis_url)
    servers["bare"] = lambda: Gunicorn("bench.bare_app:app", env=env, **settings)
    if args.peer:  # both must show the same screens, or the comparison means nothing
        with servers["gateway"]() as ours, servers["peer"]() as peer:
            differ = same_screens(ours.url, peer.url, args.borrowers)
        if differ:
            raise SystemExit("the peer's screens differ from ours:\n" + "\n\n".join(differ[:3]))
        print("the peer shows the same main menu and balance screens as ours (20 borrowers checked)")
    # All servers up at once (an idle one costs nothing), their runs interleaved: round k runs each
    # server once, the order rotating, so load from outside this benchmark hits all of them alike;
    # the ratios are taken run by run (same round), then their median.
    runs: dict[str, list[dict]] = {name: [] for name in servers}
    memory = {}
    with contextlib.ExitStack() as stack:
        started = {name: stack.enter_context(start()) for name, start in servers.items()}
        for server in started.values():
            run_wrk(server.url, script, 3, args.connections)  # warm-up: pools, caches
        names_in_order = list(servers)
        for k in range(args.runs):
            for name in names_in_order[k % len(names_in_order):] + names_in_order[:k % len(names_in_order)]:
                cpu = started[name].worker_cpu_seconds()
                figures = run_wrk(started[name].url, script, args.duration, args.connections)
                figures["cpu_ms_per_request"] = 1000 * (started[name].worker_cpu_seconds() - cpu) / max(figures["requests"], 1)
                runs[name].append(figures)
        memory = {name: server.worker_peak_rss_mib() for name, server in started.items()}
    results = {name: {**median_of(r), "runs": r} for name, r in runs.items()}
    g, b = results["gateway"], results["bare"]
    per_round = [a["rps"] / z["rps"] for a, z in zip(runs["gateway"], runs["bare"], strict=True)]
    ratio = statistics.median(per_round)
    names = {"gateway": "USSD app", "peer": "peer (Node)", "bare": "bare Flask"}
    print(f"\ngunicorn -w {args.workers} -k {args.worker_class} --threads {args.threads}; wrk -c {args.connections}, "
          f"{args.runs} x {args.duration} s (medians); {args.borrowers:,} borrowers; paths {paths}")
    print(table([(names[n], f"{r['rps']:.0f}", " ".join(f"{x['rps']:.0f}" for x in r["runs"]), f"{r['p50_ms']:.1f}",
                  f"{r['p99_ms']:.1f}", f"{r['max_ms']:.1f}", int(r["errors"]), f"{r['cpu_ms_per_request']:.2f}",
                  " ".join(f"{m:.0f}" for m in memory[n]))
                 for n, r in results.items()],
                ("", "hops/s", "runs", "p50 ms", "p99 ms", "max ms", "errors", "CPU ms/hop (server)",
                 "peak RSS MiB per worker")))
    print(f"app / bare = {ratio:.0%} (median of the rounds' ratios: {' '.join(f'{x:.0%}' for x in per_round)})   "
          f"targets: >= 50 % of bare, p99 < 25 ms at 8 connections")
    figures = {"bench": "ussd", "borrowers": args.borrowers, "load_seconds": load_s,
               "rate_limits": not args.no_rate_limits, "fresh_sessions": args.fresh_sessions, "paths": paths,
               "gunicorn": f"-w {args.workers} -k {args.worker_class} --threads {args.threads}",
               "connections": args.connections, "duration_s": args.duration, "runs": args.runs,
               "hops_per_s": round(g["rps"], 1), "p50_ms": g["p50_ms"], "p99_ms": g["p99_ms"],
               "max_ms": g["max_ms"], "errors": int(g["errors"]), "cpu_ms_per_hop": round(g["cpu_ms_per_request"], 3),
               "bare_cpu_ms_per_request": round(b["cpu_ms_per_request"], 3), "bare_per_s": round(b["rps"], 1),
               "bare_p99_ms": b["p99_ms"], "ratio": round(ratio, 3), "ratio_per_round": [round(x, 3) for x in per_round],
               "web_worker_peak_rss_mib": memory["gateway"],
               "all_runs": {n: r["runs"] for n, r in results.items()}}
    if args.peer:
        p = results["peer"]
        over_peer = [a["rps"] / z["rps"] for a, z in zip(runs["gateway"], runs["peer"], strict=True)]
        figures.update(peer_per_s=round(p["rps"], 1), peer_p99_ms=p["p99_ms"], peer_errors=int(p["errors"]),
                       peer_cpu_ms_per_hop=round(p["cpu_ms_per_request"], 3),
                       ours_over_peer=round(statistics.median(over_peer), 3),
                       ours_over_peer_per_round=[round(x, 3) for x in over_peer], peer_worker_peak_rss_mib=memory["peer"])
        print(f"ours / peer = {statistics.median(over_peer):.0%} (rounds: {' '.join(f'{x:.0%}' for x in over_peer)})   "
              f"target: >= 100 % (ours at least as fast)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
