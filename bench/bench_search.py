"""Search figures: index build rate, query latency against SQLite FTS5, index size, serving RSS.

The corpus is generated reproducibly from a seed in arXiv's bulk snapshot
format (JSON lines, Kaggle ``arxiv-metadata-oai-snapshot`` schema: hard-wrapped
titles and abstracts with TeX, raw author strings, versions, categories) and
imported through the crawler's own snapshot reader and store, so the index is
built from the same rows the daemon would hold. Words follow a Zipf law over
a vocabulary of real scientific English plus synthetic words; no real corpus
of 200,000 papers is available offline here.

    .venv/bin/python bench/bench_search.py              # 200,000 papers
    .venv/bin/python bench/bench_search.py --papers 20000

Query latency is measured through ``SearchIndex.search`` (top 20, highlights
from the database), the same call the web page makes; FTS5 answers the same
queries (AND of the terms, BM25 with the same field weights, ``highlight`` and
``snippet``) over the same texts. Peak RSS is that of a separate process that
serves ``/search`` over HTTP with the project's router while the queries run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from itertools import accumulate
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"

REAL_WORDS = """
model models learning neural network networks data method methods based results show approach
problem propose proposed paper performance training deep algorithm algorithms graph graphs language
information system systems time analysis using framework state quantum field theory energy mass spin
phase transition magnetic temperature optimization distribution large robust efficient novel task
tasks image images representation inference bayesian gradient stochastic convex estimation sampling
prediction classification reinforcement agent policy reward equation equations solution solutions
boundary nonlinear linear matrix operator spectral dynamics stability control signal noise channel
wireless coding secure privacy attack adversarial generative diffusion transformer attention token
benchmark dataset datasets evaluation experiments accuracy scalable parallel distributed memory
compute hardware circuit galaxy galaxies star stars cosmic dark matter black hole gravitational wave
detector particle collider higgs boson quark gluon lattice semantic segmentation detection object
recognition speech translation retrieval search ranking recommendation clustering kernel regression
sparse low rank tensor manifold geometry topology algebra group groups finite infinite prime number
theorem proof conjecture bound bounds lower upper complexity polynomial random walk process markov
chain monte carlo variational autoencoder contrastive self supervised unsupervised labels label
noisy robustness fairness bias causal effect treatment observational survey review benchmarking
protocol consensus blockchain cryptography encryption federated client server edge cloud latency
throughput scheduling resource allocation energy efficient battery grid power market price economic
agents game equilibrium nash auction mechanism design fluid flow turbulence vortex plasma laser
optical photon cavity superconducting qubit qubits entanglement error correction decoherence
simulation numerical finite element mesh solver convergence rate theoretical empirical
""".split()
SYLLABLES = (
    "ka ro mi ten sa lo ver qui pha dor nel tri ux gen pol ast zer bi mon cal fi tra ion ex lu ne or".split()
)
CATEGORIES = (
    "cs.LG cs.AI cs.CL cs.CV stat.ML math.OC quant-ph hep-th hep-ph astro-ph.CO cond-mat.str-el "
    "math.PR math.NT eess.SP cs.CR cs.DC physics.flu-dyn q-bio.NC econ.GN cs.RO"
).split()
FIRST = "Ana Bo Chen Dana Eve Fay Gus Hana Ivan Jun Kai Lena Mika Nia Omar Paz Quinn Rosa Sven Tao".split()
LAST = [
    'M\\"uller',
    "Li",
    "Wu",
    "Fox",
    "Garc\\'ia",
    "Hale",
    "Kim",
    "Nov\\'ak",
    "Zhang",
    "Smith",
    "Rossi",
    "Dubois",
    "Sato",
    "Kowalski",
    "Jensen",
    "Okafor",
    "Silva",
    "Brown",
    "Ivanova",
    "Chen",
]
STOP = {
    "a",
    "an",
    "and",
    "are",
    "as",
    "at",
    "be",
    "by",
    "can",
    "for",
    "from",
    "have",
    "if",
    "in",
    "is",
    "it",
    "may",
    "not",
    "of",
    "on",
    "or",
    "that",
    "the",
    "this",
    "to",
    "us",
    "we",
    "when",
    "will",
    "with",
    "yet",
    "you",
    "your",
}
GLUE = "the of and in a to we for is that with on by this as are from an be".split()


# ---------------------------------------------------------------- corpus


class Corpus:
    """A seeded generator of snapshot records and of the query set."""

    def __init__(self, seed: int, vocab_size: int = 80_000) -> None:
        self.rng = random.Random(seed)
        vocab = list(dict.fromkeys(REAL_WORDS))
        seen = set(vocab)
        while len(vocab) < vocab_size:
            w = "".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.randint(2, 4)))
            if w not in seen:
                seen.add(w)
                vocab.append(w)
        self.vocab = vocab
        self.cum = list(accumulate(1.0 / (i + 1) ** 1.07 for i in range(len(vocab))))

    def words(self, n: int) -> list[str]:
        picked = self.rng.choices(self.vocab, cum_weights=self.cum, k=n)
        for i in range(0, n, 4):  # function words, as real prose has them
            picked[i] = self.rng.choice(GLUE)
        return picked

    @staticmethod
    def wrap(text: str, width: int = 80) -> str:
        lines, line = [], ""
        for w in text.split():
            if line and len(line) + 1 + len(w) > width:
                lines.append(line)
                line = w
            else:
                line = f"{line} {w}" if line else w
        lines.append(line)
        return "\n".join(lines)

    def record(self, i: int) -> dict[str, Any]:
        rng = self.rng
        year = 15 + (i * 10 // max(1, self._n))
        month = rng.randint(1, 12)
        pid = f"{year:02d}{month:02d}.{i % 100000:05d}"
        title = " ".join(self.words(rng.randint(6, 14))).capitalize()
        words = self.words(rng.randint(110, 200))
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), "$\\mathcal{O}(n \\log n)$")
        abstract = "  " + self.wrap(" ".join(words).capitalize() + ".") + "\n"
        n_auth = min(40, int(rng.paretovariate(1.6)) + 1)
        names = [(rng.choice(FIRST), rng.choice(LAST)) for _ in range(n_auth)]
        cats = rng.sample(CATEGORIES, rng.randint(1, 3))
        mon = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()[month - 1]
        created = f"Mon, {rng.randint(1, 28)} {mon} 20{year:02d} 10:00:00 GMT"
        versions = [{"version": "v1", "created": created}]
        if rng.random() < 0.3:
            versions.append({"version": "v2", "created": created.replace("10:00:00", "18:00:00")})
        return {
            "id": pid,
            "submitter": f"{names[0][0]} {names[0][1]}",
            "authors": ", ".join(f"{f} {last}" for f, last in names),
            "title": self.wrap(title, 70).replace("\n", "\n  "),
            "comments": f"{rng.randint(4, 40)} pages, {rng.randint(1, 12)} figures"
            if rng.random() < 0.7
            else None,
            "journal-ref": None,
            "doi": None,
            "report-no": None,
            "categories": " ".join(cats),
            "license": "http://creativecommons.org/licenses/by/4.0/",
            "abstract": abstract,
            "versions": versions,
            "update_date": f"20{year:02d}-{month:02d}-15",
            "authors_parsed": [[last, f, ""] for f, last in names],
        }

    def write(self, path: Path, n: int) -> None:
        self._n = n
        ids_seen: set[str] = set()
        with path.open("w", encoding="utf-8") as fh:
            i = 0
            written = 0
            while written < n:
                rec = self.record(i)
                i += 1
                if rec["id"] in ids_seen:
                    continue
                ids_seen.add(rec["id"])
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                written += 1

    def queries(self, docs: list[tuple[str, str]], count: int) -> list[str]:
        """``count`` queries of 1-4 terms, each drawn from one paper's title and abstract (so it has hits)."""
        rng = random.Random(7)
        out: list[str] = []
        while len(out) < count:
            title, abstract = rng.choice(docs)
            pool = [
                w
                for w in (title + " " + abstract).lower().split()
                if w.isalpha() and w not in STOP and len(w) > 2
            ]
            k = 1 + len(out) % 4
            if len(set(pool)) < k:
                continue
            out.append(" ".join(rng.sample(sorted(set(pool)), k)))
        return out


# ---------------------------------------------------------------- steps


def import_snapshot(path: Path, db_url: str) -> int:
    from core.database import Database
    from feeds.models import Base
    from feeds.snapshot import SnapshotReader
    from feeds.store import upsert_papers

    db = Database(db_url)
    Base.metadata.create_all(db.engine)
    n = 0
    batch: list[Any] = []
    with SnapshotReader(path) as reader:
        for _line, rec in reader.records():
            if hasattr(rec, "reason"):
                raise SystemExit(f"bad generated line: {rec}")
            batch.append(rec)
            if len(batch) == 5000:
                db.write_blocking(lambda s, b=batch: upsert_papers(s, b, "snapshot"))
                n += len(batch)
                batch = []
    if batch:
        db.write_blocking(lambda s, b=batch: upsert_papers(s, b, "snapshot"))
        n += len(batch)
    db.close()
    return n


def build_fts(db_file: Path, fts_file: Path) -> float:
    if fts_file.exists():
        fts_file.unlink()
    src = sqlite3.connect(db_file)
    con = sqlite3.connect(fts_file)
    con.execute(
        "CREATE VIRTUAL TABLE fts USING fts5(id UNINDEXED, title, abstract, authors,"
        " tokenize='porter unicode61 remove_diacritics 2')"
    )
    started = time.perf_counter()
    rows = src.execute("SELECT id, title, abstract, authors FROM papers")
    con.executemany(
        "INSERT INTO fts(id, title, abstract, authors) VALUES (?, ?, ?, ?)",
        ((r[0], r[1], r[2], ", ".join(json.loads(r[3] or "[]"))) for r in rows),
    )
    con.commit()
    elapsed = time.perf_counter() - started
    con.close()
    src.close()
    return elapsed


def fts_query(con: sqlite3.Connection, q: str) -> list[Any]:
    match = " ".join('"' + w.replace('"', "") + '"' for w in q.split())
    return con.execute(
        "SELECT id, highlight(fts, 1, '<b>', '</b>'), snippet(fts, 2, '<b>', '</b>', '…', 48)"
        " FROM fts WHERE fts MATCH ? ORDER BY bm25(fts, 0.0, 3.0, 1.0, 2.0) LIMIT 20",
        (match,),
    ).fetchall()


def percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return p50, p95, statistics.fmean(ordered)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the index workers)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(db_url: str, index_dir: str, port: int) -> None:
    """Child mode: the daemon's search side alone (router + index + database) on loopback."""
    import uvicorn
    from fastapi import FastAPI

    from core.config import Config
    from core.database import Database
    from search.index import SearchIndex
    from search.web import make_router

    db = Database(db_url)
    index = SearchIndex(Path(index_dir)).open()
    app = FastAPI()
    app.include_router(make_router(Config(), db, index))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def peak_rss_while_serving(db_url: str, index_dir: Path, queries: list[str]) -> tuple[int, int, list[float]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", db_url, str(index_dir), str(port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/search", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        times = []
        for q in queries:
            started = time.perf_counter()
            url = f"http://127.0.0.1:{port}/search?" + urllib.parse.urlencode({"q": q})
            urllib.request.urlopen(url, timeout=30).read()
            times.append((time.perf_counter() - started) * 1000)
        status = Path(f"/proc/{proc.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        hwm = int(fields["VmHWM"].split()[0]) * 1024
        rss = int(fields["VmRSS"].split()[0]) * 1024
        return hwm, rss, times
    finally:
        proc.terminate()
        proc.wait(10)


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--papers", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=240)
    ap.add_argument("--seed", type=int, default=20240505)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--serve", nargs=3, metavar=("DB_URL", "INDEX_DIR", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]))
        return

    import logging

    logging.basicConfig(level=logging.WARNING)
    from core.database import Database
    from search.index import SearchIndex

    out: Path = args.out / f"search-{args.papers}-{args.seed}"
    out.mkdir(parents=True, exist_ok=True)
    corpus_file = out / "arxiv-metadata-oai-snapshot.jsonl"
    db_file = out / "papers.db"
    db_url = f"sqlite:///{db_file}"
    corpus = Corpus(args.seed)
    print(
        f"corpus: {args.papers:,} papers, seed {args.seed}, generated in arXiv's snapshot format "
        f"(synthetic Zipf text; no real 200k file offline) -> {corpus_file}"
    )
    if not corpus_file.exists():
        t = time.perf_counter()
        corpus.write(corpus_file, args.papers)
        print(f"  generated in {time.perf_counter() - t:.1f} s, {corpus_file.stat().st_size / 1e6:.0f} MB")
    if not db_file.exists():
        t = time.perf_counter()
        n = import_snapshot(corpus_file, db_url)
        print(
            f"  imported {n:,} papers through feeds.snapshot + feeds.store in {time.perf_counter() - t:.1f} s"
        )

    db = Database(db_url)
    index_dir = out / "index"
    shutil.rmtree(index_dir, ignore_errors=True)
    index = SearchIndex(index_dir, procs=args.procs).open()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before the build")
    cpu0 = cpu_seconds()
    t = time.perf_counter()
    count = index.reindex(db)
    build_s = time.perf_counter() - t
    build_cpu = cpu_seconds() - cpu0
    rate = count / build_s
    verdict = "target >= 1,000" + (
        " met" if rate >= 1000 else " NOT met" + (" (below 400: failure)" if rate < 400 else "")
    )
    print(
        f"index build: {count:,} papers in {build_s:.1f} s = {rate:,.0f} papers/s on {os.cpu_count()} cores, "
        f"{args.procs if count >= 20_000 else 1} worker process(es) [{verdict}]; "
        f"{build_cpu:.0f} CPU-s = {count / build_cpu:,.0f} papers per CPU-second; "
        f"load average {os.getloadavg()[0]:.1f} after"
    )
    index_bytes = dir_size(index_dir)
    print(
        f"index size on disk: {index_bytes / 1e6:.1f} MB "
        f"({index_bytes / count:,.0f} bytes/paper; only ids stored)"
    )

    docs = db.read_blocking(
        lambda s: [
            tuple(r)
            for r in s.execute(
                __import__("sqlalchemy").text("SELECT title, abstract FROM papers ORDER BY id LIMIT 5000")
            )
        ]
    )
    queries = corpus.queries(docs, args.queries)
    print(f"queries: {len(queries)} fixed queries of 1-4 terms (seeded), e.g. {queries[:4]}")

    def run_whoosh() -> tuple[list[float], int]:
        times, empty = [], 0
        for q in queries:
            started = time.perf_counter()
            r = index.search(q, pagelen=20, db=db)
            times.append((time.perf_counter() - started) * 1000)
            if r.error:
                raise SystemExit(f"query {q!r} failed: {r.error}")
            empty += not r.hits
        return times, empty

    def run_fts(con: sqlite3.Connection) -> list[float]:
        times = []
        for q in queries:
            started = time.perf_counter()
            fts_query(con, q)
            times.append((time.perf_counter() - started) * 1000)
        return times

    cold, empty = run_whoosh()  # first pass: this process's caches (posting arrays, lengths) empty
    warm, _ = run_whoosh()  # second pass: the same queries again
    from search import fastscore

    fastscore.clear_caches()  # back to cold, then the warm-up the daemon runs at start
    started = time.perf_counter()
    warmed_terms = index.warm()
    warm_up_s = time.perf_counter() - started
    after_warm_up, _ = run_whoosh()
    index.close()
    fts_file = out / "fts5.db"
    fts_build = build_fts(db_file, fts_file)
    con = sqlite3.connect(fts_file)
    fcold = run_fts(con)
    fwarm = run_fts(con)
    con.close()
    print(
        f"sqlite {sqlite3.sqlite_version} FTS5 build (porter unicode61 remove_diacritics): "
        f"{fts_build:.1f} s = {count / fts_build:,.0f} papers/s, {fts_file.stat().st_size / 1e6:.1f} MB"
    )
    for label, wt, ft in (("first pass", cold, fcold), ("second pass", warm, fwarm)):
        w50, w95, wmean = percentiles(wt)
        f50, f95, fmean = percentiles(ft)
        ratio = w95 / f95 if f95 else float("inf")
        print(
            f"{label}: whoosh (SearchIndex.search, top 20 + highlights from the DB) p50 {w50:.1f} ms, "
            f"p95 {w95:.1f} ms, mean {wmean:.1f} ms [p95 <= 30 ms{' met' if w95 <= 30 else ' NOT met'}]; "
            f"FTS5 (bm25 + highlight + snippet, top 20) p50 {f50:.1f} ms, p95 {f95:.1f} ms, "
            f"mean {fmean:.1f} ms; "
            f"ratio at p95 {ratio:.1f}x [<= 3x{' met' if ratio <= 3 else ' NOT met'}]"
        )
    w50, w95, wmean = percentiles(after_warm_up)
    print(
        f"first pass after the daemon's start-up warm-up ({warmed_terms} commonest terms, "
        f"{warm_up_s:.1f} s): "
        f"p50 {w50:.1f} ms, p95 {w95:.1f} ms, mean {wmean:.1f} ms [p95 <= 30 "
        f"ms{' met' if w95 <= 30 else ' NOT met'}]"
    )
    print(f"  {empty} of {len(queries)} queries without hits")

    hwm, rss, http_times = peak_rss_while_serving(db_url, index_dir, queries)
    h50, h95, _ = percentiles(http_times)
    print(
        f"serving /search over HTTP (router + index, separate process): p50 {h50:.1f} ms, p95 {h95:.1f} ms; "
        f"peak RSS {hwm / 2**20:.0f} MiB, RSS after {rss / 2**20:.0f} MiB "
        f"[target <= 200 MB{' met' if hwm <= 200e6 else ' NOT met'}]"
    )
    db.close()


if __name__ == "__main__":
    main()
