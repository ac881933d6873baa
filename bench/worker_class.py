"""Which RQ worker `gateway serve` should run: post_payment jobs through RQ's forking Worker (a new
process per job), SimpleWorker (jobs in the worker process) and gateway/workers/runner.py (the
SimpleWorker as `gateway serve` runs it), each as a burst worker over the same number of jobs,
alternated and repeated; medians, and each class's ratio to SimpleWorker measured in the same run.

    .venv/bin/python bench/worker_class.py [--jobs 200] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from callbacks import c2b
from common import DEFAULT_DB, DEFAULT_REDIS, ROOT, account_ref, load_portfolio, phone, table
from redis import Redis
from rq import Queue

CLASSES = {
    "fork (rq Worker)": ["-m", "rq.cli", "worker", "--burst", "--worker-class", "rq.Worker"],
    "simple (rq SimpleWorker)": ["-m", "rq.cli", "worker", "--burst", "--worker-class", "rq.SimpleWorker"],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    total = args.jobs * args.rounds * len(CLASSES)
    load_portfolio(DEFAULT_DB, total)
    env = dict(os.environ, DATABASE_URL=DEFAULT_DB, REDIS_URL=DEFAULT_REDIS, MPESA_CALLBACK_TOKEN="bench",
               RATE_LIMITS_ENABLED="0")
    os.environ.update(env)
    from gateway.app import create_app

    client = create_app().test_client()
    redis = Redis.from_url(DEFAULT_REDIS)
    redis.flushdb()
    queue = Queue("payments", connection=redis)
    seconds: dict[str, list[float]] = {name: [] for name in CLASSES}
    n = 0
    for _ in range(args.rounds):
        for name, cmd in CLASSES.items():
            for _ in range(args.jobs):  # stored and enqueued (post_payment) by the real callback path
                n += 1
                res = client.post("/payments/daraja/c2b/confirmation?token=bench",
                                  json=c2b(f"BW{n:08d}", account_ref(n), 500, phone(n).lstrip("+")))
                assert res.status_code == 200, res.get_data(as_text=True)
            assert queue.count == args.jobs
            started = time.perf_counter()
            subprocess.run([sys.executable, *cmd, "--url", DEFAULT_REDIS, "--quiet", "payments"], env=env, cwd=ROOT,
                           check=True, stdout=subprocess.DEVNULL)
            seconds[name].append(time.perf_counter() - started)
            assert queue.count == 0 and queue.failed_job_registry.count == 0
    base = statistics.median(seconds["simple (rq SimpleWorker)"])
    rows, figures = [], {}
    for name, runs in seconds.items():
        median = statistics.median(runs)
        rows.append((name, f"{median:.2f}", f"{1000 * median / args.jobs:.1f}", f"{args.jobs / median:.0f}",
                     f"{median / base:.2f}"))
        figures[name.split()[0]] = {"median_s": round(median, 2), "ms_per_job": round(1000 * median / args.jobs, 1),
                                    "runs": [round(r, 2) for r in runs], "ratio_to_simple": round(median / base, 2)}
    print(table(rows, ("worker", f"median s / {args.jobs} jobs", "ms/job", "jobs/s", "× simple")))
    print(json.dumps({"jobs": args.jobs, "rounds": args.rounds, **figures}))


if __name__ == "__main__":
    main()
