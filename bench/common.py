"""Shared by the benchmarks: a synthetic portfolio loaded with COPY, gunicorn and wrk runs."""
from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway import migrate  # noqa: E402
from gateway.db import engine_for  # noqa: E402

DEFAULT_DB = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gateway_bench")
DEFAULT_REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
NOW = dt.datetime(2026, 11, 20, 9, 0)


def phone(i: int) -> str:
    return f"+2547{11_000_000 + i:08d}"  # valid Safaricom numbers, one per borrower


def account_ref(i: int) -> str:
    return f"BIZ{i:07d}"


def fresh_schema(url: str) -> None:
    ensure_database(url)
    engine = engine_for(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(url)


def load_portfolio(url: str, borrowers: int, installments: int = 4, first_due: dt.date = dt.date(2026, 11, 1),
                   sw_share: int = 2) -> float:
    """One loan of KES 4,000 per borrower, `installments` monthly installments from `first_due`
    (so some are in arrears on NOW), loaded with COPY. Returns seconds taken."""
    started = time.perf_counter()
    fresh_schema(url)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO fieldpartner (id, name, help_line, paybill, country) "
                    "VALUES (1, 'Jirani Finance', '0800 720 000', '600966', 'KE')")
        # its product, as `gateway product add` makes it: the planner joins every loan to it for its ladder
        cur.execute("INSERT INTO product (field_partner_id, code, names, account_prefix, ladder, currency, "
                    "principal_min, principal_max, installments_min, installments_max, frequency, "
                    "first_due_within_days, round_to, payg, active) VALUES (1, 'business loan', "
                    "'{\"en\": \"business loan\", \"sw\": \"mkopo wa biashara\"}', 'BIZ', 'monthly', 'KES', "
                    "500000, 50000000, 1, 24, 'monthly', 45, 1, false, true)")
        with cur.copy("COPY borrower (id, name, phone, language, country, timezone, field_partner_id, branch, "
                      "opted_out, created_at) FROM STDIN") as cp:
            for i in range(1, borrowers + 1):
                cp.write_row((i, f"Borrower{i} Test", phone(i), "sw" if i % sw_share else "en", "KE",
                              "Africa/Nairobi", 1, "", False, NOW))
        with cur.copy("COPY loan (id, borrower_id, product, principal, currency, disbursed_on, status, account_ref, "
                      "created_at) FROM STDIN") as cp:
            for i in range(1, borrowers + 1):
                cp.write_row((i, i, "business loan", 400_000, "KES", dt.date(2026, 10, 1), "active", account_ref(i), NOW))
        with cur.copy("COPY installment (loan_id, seq, due_date, principal_due, interest_due, fees_due, "
                      "principal_paid, interest_paid, fees_paid, status) FROM STDIN") as cp:
            for i in range(1, borrowers + 1):
                offset = i % 60  # due dates spread over two months
                for k in range(installments):
                    due = first_due + dt.timedelta(days=offset + 30 * k)
                    cp.write_row((i, k + 1, due, 100_000, 20_000, 0, 0, 0, 0, "pending"))
        for table in ("borrower", "loan", "installment", "fieldpartner", "product"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        cur.execute("ANALYZE")
    return time.perf_counter() - started


def libpq_dsn(url: str) -> str:
    """SQLAlchemy's URL -> libpq's (psycopg.connect, pgbench, node-postgres)."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def ensure_database(url: str) -> None:
    """CREATE DATABASE for `url` if it does not exist (connected to the server's `postgres` db)."""
    dsn = libpq_dsn(url)
    base, name = dsn.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def peak_rss_mib(pid: int) -> float | None:
    """The process's peak resident set so far (Linux VmHWM), MiB; None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def child_pids(pid: int) -> list[int]:
    import psutil
    try:
        return [c.pid for c in psutil.Process(pid).children()]
    except psutil.NoSuchProcess:
        return []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A server run as a child process for a benchmark: `with` waits until it answers, then stops it."""

    proc: subprocess.Popen

    def wait_ready(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self):
        self.wait_ready()
        return self

    def __exit__(self, *exc):
        self.stop()


# What the ledger check of a run counts (PostgreSQL, the scratch database of the run).
LEDGER_COUNTS = {
    "payments": "SELECT count(*) FROM payment",
    "posted": "SELECT count(*) FROM payment WHERE status = 'posted'",
    "payment_total_minor": "SELECT coalesce(sum(amount), 0) FROM payment",
    "ledger_total_minor": "SELECT coalesce(sum(amount), 0) FROM ledgerentry",
    "payments_not_allocated_in_full": (
        "SELECT count(*) FROM payment p LEFT JOIN (SELECT payment_id, sum(amount) s FROM ledgerentry "
        "GROUP BY payment_id) e ON e.payment_id = p.id WHERE coalesce(e.s, 0) <> p.amount"),
    "duplicate_receipts": "SELECT count(*) - count(DISTINCT provider_txn_id) FROM payment",
}


def counts(conn, queries: dict[str, str]) -> dict[str, int]:
    """{name: the integer each query returns}."""
    return {name: int(conn.execute(sql).fetchone()[0]) for name, sql in queries.items()}


class Gunicorn(ServerProcess):
    """gunicorn serving `app` (module:attr) on a free loopback port, access log off; its output to
    the file `log` if given (else this process's)."""

    def __init__(self, app: str, workers: int, threads: int, env: dict, worker_class: str = "gthread",
                 log: str | None = None):
        self.port = free_port()
        cmd = [sys.executable, "-m", "gunicorn", "--chdir", str(ROOT), "-b", f"127.0.0.1:{self.port}",
               "-w", str(workers), "-k", worker_class, "--threads", str(threads), "--backlog", "2048",
               "--log-level", "warning", app]
        # DEMO_MODE: a bench needs no SECRET_KEY (a development key is kept in the instance folder)
        with open(log, "w") if log else contextlib.nullcontext() as out:  # closed here: the child holds it
            self.proc = subprocess.Popen(cmd, env={"DEMO_MODE": "1", **os.environ, **env}, cwd=ROOT, stdout=out,
                                         stderr=out)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str = "/health", timeout: float = 60) -> None:
        """Until the app answers HTTP: on a busy machine the workers import the app for seconds after
        the port opens, and a load run started then measures the imports. Then a few seconds more,
        since the workers boot in parallel and the first to answer is not the last."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", path)
                conn.getresponse().read()
                conn.close()
                time.sleep(3)
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def worker_peak_rss_mib(self) -> list[float]:
        """Peak RSS of each gunicorn worker (not the master), MiB: read before stop()."""
        return [m for m in map(peak_rss_mib, child_pids(self.proc.pid)) if m is not None]

    def worker_cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the gunicorn workers together: the difference
        over a run, divided by the requests, is the CPU each request cost in the web tier."""
        return sum(cpu_seconds(pid) for pid in child_pids(self.proc.pid))


def cpu_seconds(pid: int) -> float:
    """A process's user + system CPU time so far, seconds (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")



WRK_REPORT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def run_wrk(url: str, lua: str, duration: int, connections: int, threads: int = 1) -> dict:
    """A bounded wrk run (-d seconds, fixed connections) over loopback; figures from its Lua `done`."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua + WRK_REPORT)
        script = fh.name
    try:
        out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
                              "--timeout", "5s", "-s", script, url], capture_output=True, text=True, check=True,
                             timeout=duration + 60).stdout
    finally:
        os.unlink(script)
    line = next(ln for ln in out.splitlines() if ln.startswith("WRK_JSON "))
    raw = json.loads(line[len("WRK_JSON "):])
    seconds = raw["duration_us"] / 1e6
    return {"requests": raw["requests"], "rps": raw["requests"] / seconds, "p50_ms": raw["p50_us"] / 1000,
            "p90_ms": raw["p90_us"] / 1000, "p99_ms": raw["p99_us"] / 1000, "max_ms": raw["max_us"] / 1000,
            "errors": sum(raw["errors"].values()), "non_2xx": raw["errors"]["status"]}


def median_of(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def table(rows: list[tuple], headers: tuple) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join([fmt.format(*headers)] + [fmt.format(*map(str, r)) for r in rows])
