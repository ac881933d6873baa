#!/usr/bin/env bash
# Every benchmark at a small size (about 6-8 minutes on 2 cores), for comparing commits.
# Needs PostgreSQL and Redis on 127.0.0.1 (BENCH_DATABASE_URL, BENCH_REDIS_URL override the defaults:
# postgresql+psycopg://postgres@127.0.0.1:5432/gateway_bench and redis://127.0.0.1:6379/6), wrk, pgbench,
# and Node.js 18+ with npm for the peer. Each script ends with one JSON line; they are collected in
# bench/results-small.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q wrk; else sudo apt-get install -y -q wrk; fi
fi
$PY -c "import pyinstrument, psutil" 2>/dev/null || .venv/bin/pip install -q -e '.[bench]'
out=bench/results-small.jsonl
: > "$out"
run() { "$PY" "$@" | tee /dev/stderr | tail -1 >> "$out"; }
run bench/ussd.py --borrowers 5000 --duration 8 --runs 2 --connections 16
run bench/ussd.py --borrowers 5000 --duration 8 --runs 2 --connections 16 --peer
run bench/callbacks.py --c2b 2000 --stk 200 --borrowers 5000
run bench/posting.py --payments 2000 --borrowers 5000       # `gateway serve`'s worker class (SimpleWorker)
run bench/posting.py --payments 2000 --borrowers 5000 --workers 2
run bench/reminders.py --loans 50000
run bench/import.py --loans 10000 --runs 1
echo "figures: $out" >&2
