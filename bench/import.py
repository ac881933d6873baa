"""Portfolio import: N loans from our template CSV into an empty lender, then the same file again.

    .venv/bin/python bench/import.py                                   # 100,000 loans, PostgreSQL, 3 runs
    .venv/bin/python bench/import.py --loans 20000 --runs 1            # quicker
    .venv/bin/python bench/import.py --database sqlite:////tmp/import-bench.db

The file: one loan per borrower, 70 % business loans (6 monthly installments, 3 % a month flat,
first due from June to December 2026) and 30 % solar home systems (12 weekly installments), each
with a paid to date from nothing to the whole loan, so the import allocates over several
installments, writes ledger entries, and leaves some loans repaid and many in arrears. Each run
starts from a fresh schema (migrations), a lender with the default catalogue, and the file on disk.

Printed per run: seconds for the whole import (read the file, check every row: phones, products,
schedules, what exists; write borrowers, loans, installments, ledger entries, import records;
commit), as `gateway portfolio import` does it (`importing.run`), of which reading the file, and our
process's CPU seconds (the machine is shared: wall time depends on the others, CPU time less); the
second import of the same file (everything unchanged, nothing written); the load average. Then
rows per table and the ledger check (each loan's import entries sum to its paid to date); peak RSS.
Medians over the runs. Target: the first import of 100,000 loans < 120 s.
Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402
from sqlmodel import Session, select  # noqa: E402

from bench.common import fresh_schema  # noqa: E402
from gateway import migrate  # noqa: E402
from gateway.borrowers import catalogue, importing, importing_formats  # noqa: E402
from gateway.borrowers.importing_formats import COLUMNS  # noqa: E402
from gateway.db import engine_for  # noqa: E402
from gateway.models import FieldPartner  # noqa: E402

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/gateway_bench_import"


def write_file(path: Path, loans: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for i in range(loans):
            phone = f"+2547{11_000_000 + i:08d}"
            if rnd.random() < 0.7:
                principal, count, freq, rate = rnd.randrange(5_000, 100_000, 500), 6, "monthly", "0.03"
                first = dt.date(2026, rnd.randint(6, 12), rnd.randint(1, 28))
                product, total = "business loan", principal + 6 * round(principal * 0.03)
            else:
                principal, count, freq, rate = rnd.randrange(12_000, 60_000, 1_200), 12, "weekly", "0"
                first = dt.date(2026, 9, 1) + dt.timedelta(days=rnd.randint(0, 90))
                product, total = "solar home system", principal
            paid = rnd.choice((0, total // 4, total // 2, total, rnd.randint(0, total)))
            out.writerow([f"EXT-{i:07d}", f"Borrower {i}", phone, rnd.choice(("sw", "en")), f"Branch {i % 40}", "",
                          product, principal, "KES", (first - dt.timedelta(days=30)).isoformat(), "", count, freq,
                          first.isoformat(), "flat", rate, 0, paid])


def fresh(url: str) -> None:
    engine_for(url).dispose()  # no pooled connection to the file or schema about to go
    if url.startswith("sqlite"):
        Path(url.split("///", 1)[1]).unlink(missing_ok=True)
        migrate.upgrade(url)
    else:
        fresh_schema(url)
    with Session(engine_for(url)) as session:
        partner = FieldPartner(name="Jirani Finance", help_line="0800 720 000", paybill="600966")
        session.add(partner)
        session.flush()
        catalogue.seed(session, partner)
        session.commit()


def one_import(url: str, path: Path) -> dict:
    """What `gateway portfolio import` does: read the file, check and write it in one transaction."""
    wall, cpu = time.perf_counter(), time.process_time()
    table = importing_formats.read(path.read_bytes(), path.name)
    read_s = time.perf_counter() - wall
    with Session(engine_for(url), expire_on_commit=False) as session:
        partner = session.exec(select(FieldPartner)).one()
        report = importing.run(session, partner, table, actor="bench")
        assert not report.errors, report.errors[:5]
        session.commit()
    return dict(read_s=read_s, total_s=time.perf_counter() - wall, cpu_s=time.process_time() - cpu,
                new=report.new, unchanged=report.unchanged)


def ledger_check(url: str, path: Path) -> dict:
    paid = {}
    with path.open() as fh:
        for row in csv.DictReader(fh):
            paid[row["external_id"]] = int(row["paid_to_date"]) * 100
    with engine_for(url).connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("borrower", "loan", "installment", "ledgerentry", "importedloan")}
        sums = dict(conn.execute(text(
            "SELECT i.external_id, coalesce(sum(e.amount), 0) FROM importedloan i "
            "LEFT JOIN ledgerentry e ON e.loan_id = i.loan_id GROUP BY i.external_id")).all())
        repaid = conn.execute(text("SELECT count(*) FROM loan WHERE status = 'repaid'")).scalar_one()
    wrong = sum(1 for ext, amount in paid.items() if sums.get(ext) != amount)
    return dict(counts=counts, ledger_mismatches=wrong, repaid=repaid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database", default=DEFAULT_DB)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "portfolio.csv"
        write_file(path, args.loans)
        print(f"{args.loans:,} loans, {path.stat().st_size / 1e6:.1f} MB CSV, {args.database.split(':')[0]}")
        firsts, seconds = [], []
        for run in range(1, args.runs + 1):
            fresh(args.database)
            first = one_import(args.database, path)
            again = one_import(args.database, path)
            assert (first["new"], again["unchanged"]) == (args.loans, args.loans), (first, again)
            firsts.append(first)
            seconds.append(again)
            print(f"run {run}: {first['total_s']:.1f} s ({args.loans / first['total_s']:,.0f} loans/s; read "
                  f"{first['read_s']:.1f} s; our process's CPU {first['cpu_s']:.1f} s); the same file again (all "
                  f"unchanged) {again['total_s']:.1f} s; load average {os.getloadavg()[0]:.1f}", flush=True)
        check = ledger_check(args.database, path)
    med = {k: statistics.median(r[k] for r in firsts) for k in ("read_s", "cpu_s", "total_s")}
    again_s = statistics.median(r["total_s"] for r in seconds)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"median of {args.runs}: first import {med['total_s']:.1f} s (read {med['read_s']:.1f} s, CPU "
          f"{med['cpu_s']:.1f} s); same file again {again_s:.1f} s; peak RSS {rss_mb:.0f} MB")
    print(f"rows: {check['counts']}; repaid loans {check['repaid']}; ledger mismatches {check['ledger_mismatches']}")
    print(json.dumps(dict(bench="import", loans=args.loans, runs=args.runs, database=args.database.split(":")[0],
                          median_total_s=round(med["total_s"], 1), median_read_s=round(med["read_s"], 1),
                          median_cpu_s=round(med["cpu_s"], 1), runs_total_s=[round(r["total_s"], 1) for r in firsts],
                          median_again_s=round(again_s, 1), peak_rss_mb=round(rss_mb),
                          ledger_mismatches=check["ledger_mismatches"], target_s=120,
                          met=med["total_s"] < 120 and check["ledger_mismatches"] == 0, **check["counts"])))


if __name__ == "__main__":
    main()
