"""Snapshot import into SQLite: papers/s for the database alone and end to end, peak RSS, beside a baseline.

The input is a snapshot-format JSON-lines file generated from a fixed seed
(realistic sizes: ~1 kB abstracts with hard wraps, TeX accents, 1-3 versions),
so every run imports the same bytes. Each import runs in a fresh child
process, so its peak RSS is its own. The baseline, measured in the same run on
the same rows and schema, is a plain ``sqlite3`` ``executemany`` INSERT (no
upsert, no SQLAlchemy); our figure is the idempotent upsert through the
writer thread, commit per batch included.

    .venv/bin/python bench/bench_import.py [--lines 100000] [--small 25000] [--seed 20240115]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"
BATCH = 2000

WORDS = (
    "learning model network neural data training deep method graph optimization algorithm results "
    "performance problem approach propose show based using representation attention transformer language "
    "task tasks generalization robust sparse kernel gradient convergence bound theorem prove analysis "
    "quantum field energy spectrum lattice symmetry equation operator solutions stochastic estimation"
).split()
FIRST = (
    "Ada Alan Grace Emmy John Barbara Leslie Rosalind Karl Jürgen Balázs Zoë Łukasz Chen Wei Priya".split()
)
LAST = "Lovelace Turing Hopper Noether Neumann Liskov Lamport Franklin Pearson Nguyen Kumar Müller".split()
TEX = {"ü": '\\"u', "á": "\\'a", "ë": '\\"e', "Ł": "\\L{}", "ö": '\\"o'}
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
DAYS = "Mon Tue Wed Thu Fri Sat Sun".split()


def _tex(name: str) -> str:
    return "".join(TEX.get(c, c) for c in name)


def _wrap(text: str, width: int = 80) -> str:
    out, line = [], ""
    for word in text.split():
        if len(line) + len(word) + 1 > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    out.append(line)
    return "\n".join(out)


def generate(path: Path, lines: int, seed: int) -> Path:
    """A reproducible snapshot-format file: same seed, same bytes."""
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(lines):
            yymm = 1501 + (i // 20000) % 900
            yymm = yymm if yymm % 100 and yymm % 100 <= 12 else 1501
            authors = [(rnd.choice(FIRST), rnd.choice(LAST)) for _ in range(rnd.randint(1, 8))]
            title = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(6, 14))).capitalize()
            if rnd.random() < 0.1:
                title += ' for the Schr\\"odinger equation'
            sentences = [
                " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(12, 25))) + "." for _ in range(8)
            ]
            if rnd.random() < 0.3:
                sentences.insert(2, "We bound $\\|x\\|_2 \\le \\epsilon$ uniformly.")
            abstract = "  " + _wrap(" ".join(sentences[:5])) + "\n  " + _wrap(" ".join(sentences[5:])) + "\n"
            start = dt.datetime(2015, 1, 1) + dt.timedelta(seconds=rnd.randint(0, 10 * 365 * 86400))
            versions = []
            for v in range(rnd.choice((1, 1, 1, 2, 2, 3))):
                t = start + dt.timedelta(days=30 * v)
                versions.append(
                    {
                        "version": f"v{v + 1}",
                        "created": f"{DAYS[t.weekday()]}, {t.day} {MONTHS[t.month - 1]} "
                        f"{t.year} {t:%H:%M:%S} GMT",
                    }
                )
            cats = rnd.sample(
                ["cs.LG", "cs.AI", "cs.CL", "stat.ML", "math.OC", "quant-ph", "hep-th"], rnd.randint(1, 3)
            )
            obj = {
                "id": f"{yymm}.{i % 100000:05d}",
                "submitter": f"{authors[0][0]} {authors[0][1]}",
                "authors": ", ".join(_tex(f"{a} {b}") for a, b in authors),
                "title": _wrap(title, 70).replace("\n", "\n  "),
                "comments": f"{rnd.randint(5, 40)} pages, {rnd.randint(1, 12)} figures"
                if rnd.random() < 0.7
                else None,
                "journal-ref": None,
                "doi": f"10.1000/bench.{i}" if rnd.random() < 0.2 else None,
                "report-no": None,
                "categories": " ".join(cats),
                "license": "http://creativecommons.org/licenses/by/4.0/" if rnd.random() < 0.5 else None,
                "abstract": abstract,
                "versions": versions,
                "update_date": f"{start:%Y-%m-%d}",
                "authors_parsed": [[b, a, ""] for a, b in authors],
            }
            fh.write(json.dumps(obj) + "\n")
    return path


# ---------------------------------------------------------------- children (one process per measurement)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_import(src: Path, db_path: Path) -> dict[str, float]:
    from core.database import Database
    from feeds.importer import import_snapshot
    from feeds.migrate import upgrade

    url = f"sqlite:///{db_path}"
    upgrade(url)
    db = Database(url)
    db.start()
    try:
        r = import_snapshot(db, src, batch_size=BATCH)
    finally:
        db.close()
    return {
        "papers": r.papers,
        "total_s": r.seconds,
        "db_s": r.db_seconds,
        "db_cpu_s": r.db_cpu_seconds,
        "cpu_s": time.process_time(),
        "median_batch_rate": 1 / statistics.median(r.batch_db_seconds),
        "peak_rss_mb": _peak_rss_mb(),
    }


def _sqlite_value(v: object) -> object:
    if isinstance(v, dt.datetime):  # SQLAlchemy's SQLite storage format for DateTime
        return v.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    if isinstance(v, list):
        return json.dumps(v)
    return v


def child_baseline(src: Path, db_path: Path) -> dict[str, float]:
    from feeds import store
    from feeds.migrate import upgrade
    from feeds.snapshot import BadLine, SnapshotReader

    upgrade(f"sqlite:///{db_path}")
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    db_s = 0.0
    db_cpu = 0.0
    rates = []
    papers = 0
    t0 = time.perf_counter()
    batch = []

    def flush() -> None:
        nonlocal db_s, db_cpu, papers
        prepared = store.prepare(batch, "snapshot")
        cols = list(prepared.papers[0])
        prow = [tuple(_sqlite_value(r[c]) for c in cols) for r in prepared.papers]
        vrow = [
            (r["paper_id"], r["version"], _sqlite_value(r["created"]), r["size"]) for r in prepared.versions
        ]
        t, cpu = time.perf_counter(), time.process_time()
        conn.executemany(
            f"INSERT INTO papers ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",  # noqa: S608 - our columns
            prow,
        )
        conn.executemany("INSERT INTO versions (paper_id, version, created, size) VALUES (?, ?, ?, ?)", vrow)
        conn.commit()
        spent = time.perf_counter() - t
        db_s += spent
        db_cpu += time.process_time() - cpu
        rates.append(len(batch) / spent)
        papers += len(batch)
        batch.clear()

    with SnapshotReader(src) as reader:
        for _, item in reader.records():
            if not isinstance(item, BadLine):
                batch.append(item)
                if len(batch) >= BATCH:
                    flush()
        if batch:
            flush()
    conn.close()
    return {
        "papers": papers,
        "total_s": time.perf_counter() - t0,
        "db_s": db_s,
        "db_cpu_s": db_cpu,
        "cpu_s": time.process_time(),
        "median_batch_rate": statistics.median(rates),
        "peak_rss_mb": _peak_rss_mb(),
    }


def run_child(mode: str, src: Path, db_path: Path) -> dict[str, float]:
    for p in (db_path, db_path.with_name(db_path.name + "-wal"), db_path.with_name(db_path.name + "-shm")):
        p.unlink(missing_ok=True)
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(src), str(db_path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=25_000)
    ap.add_argument("--seed", type=int, default=20240115)
    ap.add_argument("--child", nargs=3, metavar=("MODE", "SRC", "DB"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        mode, src, db = args.child
        fn = child_import if mode == "import" else child_baseline
        print(json.dumps(fn(Path(src), Path(db))))
        return

    OUT.mkdir(parents=True, exist_ok=True)
    big = generate(OUT / f"snapshot-{args.lines}-seed{args.seed}.jsonl", args.lines, args.seed)
    small = generate(OUT / f"snapshot-{args.small}-seed{args.seed}.jsonl", args.small, args.seed)
    print(
        f"bench_import: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} cores"
    )
    print(
        f"input: generated from seed {args.seed}: {big.name} {big.stat().st_size / 1e6:.1f} MB, "
        f"{small.name} {small.stat().st_size / 1e6:.1f} MB; batches of {BATCH}"
    )
    load = os.getloadavg()[0]
    base = run_child("baseline", big, OUT / "baseline.db")
    ours = run_child("import", big, OUT / "import.db")
    tiny = run_child("import", small, OUT / "import-small.db")
    print()
    print(
        f"wall clock (this machine is shared: load average {load:.1f} on {os.cpu_count()} cores at the start)"
    )
    print(
        f"{'':44} {'papers':>8} {'db papers/s':>12} {'median batch':>13} {'end-to-end':>11} {'peak RSS':>9}"
    )
    rows = (
        ("baseline: sqlite3 executemany INSERT", base),
        ("coolstove import (upsert, writer thread)", ours),
        (f"coolstove import, {args.small} lines", tiny),
    )
    for label, r in rows:
        n = r["papers"]
        print(
            f"{label:44} {n:>8.0f} {n / r['db_s']:>12,.0f} {r['median_batch_rate']:>13,.0f} "
            f"{n / r['total_s']:>9,.0f}/s {r['peak_rss_mb']:>7.0f}MB"
        )
    print("CPU time (what the work costs, whatever else runs)")
    print(f"{'':44} {'papers':>8} {'db papers/s':>12} {'end-to-end':>13}")
    for label, r in rows:
        n = r["papers"]
        print(f"{label:44} {n:>8.0f} {n / r['db_cpu_s']:>12,.0f} {n / r['cpu_s']:>11,.0f}/s")
    print()
    n = ours["papers"]
    print(
        f"database alone: {n / ours['db_s']:,.0f} papers/s wall, {n / ours['db_cpu_s']:,.0f} papers/s CPU "
        f"({ours['db_s'] / base['db_s']:.2f}x the plain executemany's wall time; target >= 5,000/s)"
    )
    print(
        f"peak RSS: {tiny['peak_rss_mb']:.0f} MB for {args.small} lines, {ours['peak_rss_mb']:.0f} MB for "
        f"{args.lines} lines (target <= 150 MB, flat)"
    )


if __name__ == "__main__":
    main()
