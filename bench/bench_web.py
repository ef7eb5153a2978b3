"""Web figure: time to first byte of a 500-paper day list (target <= 100 ms), served as the daemon does.

A database of ``--papers`` papers (same seeded snapshot-format generator as
bench_search, imported through the crawler's store) gets ``--day-size``
announcements in cs.LG on one day and smaller days before it; the project's
router runs under uvicorn in a separate process, and a raw socket measures
the time from sending the request to the first byte of the answer, and to
the last.

    .venv/bin/python bench/bench_web.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_search import OUT, Corpus, free_port, import_snapshot  # noqa: E402


def build(out: Path, papers: int, day_size: int, seed: int) -> tuple[str, Path]:
    from core.database import Database
    from feeds.models import Announcement
    from search.index import SearchIndex

    out.mkdir(parents=True, exist_ok=True)
    corpus_file = out / "snapshot.jsonl"
    db_file = out / "papers.db"
    if db_file.exists():
        db_file.unlink()
    Corpus(seed).write(corpus_file, papers)
    db_url = f"sqlite:///{db_file}"
    import_snapshot(corpus_file, db_url)
    db = Database(db_url)
    ids = db.read_blocking(
        lambda s: [r[0] for r in s.execute(__import__("sqlalchemy").text("SELECT id FROM papers"))]
    )
    rng = random.Random(seed)
    rng.shuffle(ids)
    latest = dt.date(2024, 3, 5)
    rows = []
    types = ["new"] * 6 + ["cross"] * 3 + ["replace"]
    for i, pid in enumerate(ids[:day_size]):
        rows.append(
            Announcement(paper_id=pid, category="cs.LG", date=latest, type=rng.choice(types), position=i)
        )
    rest = ids[day_size:]
    for back in range(1, 30):
        day = latest - dt.timedelta(days=back)
        for i, pid in enumerate(rest[(back - 1) * 100 : back * 100]):
            rows.append(Announcement(paper_id=pid, category="cs.LG", date=day, type="new", position=i))
    db.write_blocking(lambda s: s.add_all(rows))
    index_dir = out / "index"
    shutil.rmtree(index_dir, ignore_errors=True)
    with SearchIndex(index_dir).open() as ix:
        ix.reindex(db)
    db.close()
    return db_url, index_dir


def fetch(port: int, path: str) -> tuple[float, float, int, int]:
    """(ms to first byte, ms to last byte, status, body bytes) for one GET over a fresh connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
        started = time.perf_counter()
        s.sendall(request)
        first = s.recv(65536)
        ttfb = time.perf_counter() - started
        chunks = [first]
        while True:
            data = s.recv(1 << 20)
            if not data:
                break
            chunks.append(data)
        total = time.perf_counter() - started
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return ttfb * 1000, total * 1000, status, len(body)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--papers", type=int, default=5000)
    ap.add_argument("--day-size", type=int, default=500)
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=20240505)
    args = ap.parse_args()
    out = OUT / f"web-{args.papers}-{args.day_size}"
    print(
        f"database: {args.papers:,} generated papers (seed {args.seed}), {args.day_size} announced in cs.LG "
        f"on 2024-03-05, 100 a day on the 29 days before"
    )
    db_url, index_dir = build(out, args.papers, args.day_size, args.seed)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(HERE / "bench_search.py"), "--serve", db_url, str(index_dir), str(port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                fetch(port, "/arxiv")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        for label, path in (
            ("day list /arxiv/cs.LG", "/arxiv/cs.LG"),
            ("search /search?q=learning+model", "/search?q=learning+model"),
            ("paper page", None),
        ):
            if path is None:
                path = _some_id(db_url)
            for _ in range(5):
                fetch(port, path)
            ttfbs, totals, size, status = [], [], 0, 0
            for _ in range(args.runs):
                ttfb, total, status, size = fetch(port, path)
                ttfbs.append(ttfb)
                totals.append(total)
            line = (
                f"{label}: HTTP {status}, {size / 1024:.0f} KiB; TTFB p50 {statistics.median(ttfbs):.1f} ms, "
                f"p95 {pct(ttfbs, 0.95):.1f} ms; complete p50 {statistics.median(totals):.1f} ms, "
                f"p95 {pct(totals, 0.95):.1f} ms ({args.runs} runs)"
            )
            if path == "/arxiv/cs.LG":
                line += f" [target TTFB <= 100 ms{' met' if pct(ttfbs, 0.95) <= 100 else ' NOT met'} at p95]"
            print(line)
    finally:
        server.terminate()
        server.wait(10)


def _some_id(db_url: str) -> str:
    import sqlite3

    con = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    try:
        row = con.execute("SELECT paper_id FROM announcements ORDER BY position LIMIT 1").fetchone()
        return f"/arxiv/{row[0]}"
    finally:
        con.close()


if __name__ == "__main__":
    main()
