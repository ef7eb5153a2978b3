"""Search figures: index build rate, cold and warm query latency beside SQLite FTS5 and tantivy, size, RSS.

The corpus is generated reproducibly from a seed in arXiv's bulk snapshot
format (JSON lines, Kaggle ``arxiv-metadata-oai-snapshot`` schema: hard-wrapped
titles and abstracts with TeX, raw author strings, versions, categories) and
imported through the crawler's own snapshot reader and store, so the index is
built from the same rows the daemon would hold. Words follow a Zipf law over
a vocabulary of real scientific English plus synthetic words; no real corpus
of 200,000 papers is available offline here.

    .venv/bin/python bench/bench_search.py              # 200,000 papers
    .venv/bin/python bench/bench_search.py --papers 20000

Three engines answer the same fixed queries (AND of 1-4 words over title,
abstract and authors; top 20 with the title highlighted and an abstract
snippet; field weights 3, 1, 2):

* ours: ``SearchIndex.search(q, pagelen=20, db=db)``, what the web page calls
  (NumPy BM25F over the side files, highlights from the paper database);
  beside it, as the baseline of the change, the same with the side files
  ignored (Whoosh's posting blocks decoded on first use, as before);
* SQLite FTS5 (``porter unicode61 remove_diacritics 2``, ``bm25`` with the
  same weights, ``highlight`` and ``snippet``);
* tantivy 0.27 (``en_stem``, the same boosts, conjunction, ``SnippetGenerator``).

Each engine runs in a fresh process per measurement: *cold* is the first
run of each query after the process opened the index (what the first
visitors after a restart see), *warm* the same queries again. "Disk-cold"
repeats the cold run after the engine's files (and, for ours, the paper
database it highlights from) were evicted from the page cache with
``posix_fadvise(DONTNEED)``, as after a reboot. Each line gives p50, p95, p99,
mean, throughput (one query at a time) and the process's peak RSS. Peak RSS
of a separate process serving ``/search`` over HTTP is measured too.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import random
import resource
import shutil
import signal
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

import tantivy  # noqa: E402
from sqlalchemy import text  # noqa: E402
from whoosh.filedb.filestore import FileStorage  # noqa: E402

from core.config import Config  # noqa: E402
from core.database import Database  # noqa: E402
from feeds.models import Base  # noqa: E402
from feeds.snapshot import SnapshotReader  # noqa: E402
from feeds.store import upsert_papers  # noqa: E402
from search import fastscore  # noqa: E402
from search import whoosh_internals as wi  # noqa: E402
from search.index import SearchIndex  # noqa: E402
from search.query import make_parser, parse_query  # noqa: E402
from search.schema import make_schema  # noqa: E402

OUT = ROOT / "bench" / "out"
TARGET_P95_MS = 30.0
LARGE = 500_000  # above this, FTS5 and the previous (decoded) path are not run
FIELD_BOOSTS = {"title": 3.0, "abstract": 1.0, "authors": 2.0}
TANTIVY = importlib.metadata.version("tantivy")
SAMPLE = "SELECT title, abstract FROM papers ORDER BY id LIMIT 5000"  # the papers queries are drawn from

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


# ---------------------------------------------------------------- building


def import_snapshot(path: Path, db_url: str) -> int:
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


def paper_rows(db_file: Path) -> Any:
    src = sqlite3.connect(db_file)
    try:
        for r in src.execute("SELECT id, title, abstract, authors FROM papers"):
            yield r[0], r[1], r[2], ", ".join(json.loads(r[3] or "[]"))
    finally:
        src.close()


def build_fts(db_file: Path, fts_file: Path) -> float:
    if fts_file.exists():
        fts_file.unlink()
    con = sqlite3.connect(fts_file)
    con.execute(
        "CREATE VIRTUAL TABLE fts USING fts5(id UNINDEXED, title, abstract, authors,"
        " tokenize='porter unicode61 remove_diacritics 2')"
    )
    started = time.perf_counter()
    con.executemany("INSERT INTO fts(id, title, abstract, authors) VALUES (?, ?, ?, ?)", paper_rows(db_file))
    con.commit()
    elapsed = time.perf_counter() - started
    con.close()
    return elapsed


def tantivy_schema() -> Any:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("id", stored=True, tokenizer_name="raw")
    for name in FIELD_BOOSTS:
        sb.add_text_field(name, stored=True, tokenizer_name="en_stem")
    return sb.build()


def build_tantivy(db_file: Path, folder: Path, threads: int) -> float:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    index = tantivy.Index(tantivy_schema(), path=str(folder))
    started = time.perf_counter()
    writer = index.writer(heap_size=200_000_000, num_threads=threads)
    for pid, title, abstract, authors in paper_rows(db_file):
        writer.add_document(tantivy.Document(id=pid, title=title, abstract=abstract, authors=authors))
    writer.commit()
    writer.wait_merging_threads()
    return time.perf_counter() - started


# ---------------------------------------------------------------- measuring (child processes)


def fts_query(con: sqlite3.Connection, q: str) -> list[Any]:
    match = " ".join('"' + w.replace('"', "") + '"' for w in q.split())
    return con.execute(
        "SELECT id, highlight(fts, 1, '<b>', '</b>'), snippet(fts, 2, '<b>', '</b>', '…', 48)"
        " FROM fts WHERE fts MATCH ? ORDER BY bm25(fts, 0.0, 3.0, 1.0, 2.0) LIMIT 20",
        (match,),
    ).fetchall()


def prime(paths: list[Path]) -> int:
    """Read these files whole, so the page cache holds them as on a machine that has been running."""
    total = 0
    for top in paths:
        for f in [top] if top.is_file() else [p for p in top.rglob("*") if p.is_file()]:
            with open(f, "rb", buffering=0) as fh:
                while chunk := fh.read(8 << 20):
                    total += len(chunk)
    return total


def evict(paths: list[Path]) -> int:
    """Drop these files' pages from the page cache (only theirs); returns the bytes concerned."""
    total = 0
    for top in paths:
        for f in [top] if top.is_file() else [p for p in top.rglob("*") if p.is_file()]:
            fd = os.open(f, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                total += os.fstat(fd).st_size
            finally:
                os.close(fd)
    return total


def status_kib(key: str) -> int:
    """A figure of /proc/self/status in bytes (VmHWM: peak RSS since exec; ru_maxrss keeps the parent's)."""
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith(key + ":"):
            return int(row.split()[1]) * 1024
    raise KeyError(key)


def timed(run: Any, queries: list[str]) -> tuple[list[float], int]:
    times, empty = [], 0
    for q in queries:
        started = time.perf_counter()
        n = run(q)
        times.append((time.perf_counter() - started) * 1000)
        empty += n == 0
    return times, empty


def child(engine: str, paths: dict[str, str], queries: list[str], disk_cold: bool) -> dict[str, Any]:
    """One engine in this fresh process: open, (evict,) cold pass, warm pass."""
    out: dict[str, Any] = {"base_rss": status_kib("VmRSS")}
    if disk_cold:
        kind = "ours" if engine.startswith("ours") else engine
        files = {"ours": ["index", "db"], "fts5": ["fts"], "tantivy": ["tantivy"]}[kind]
        out["evicted"] = evict([Path(paths[k]) for k in files])
    started = time.perf_counter()
    if engine.endswith("-rank"):  # the ranking alone: the query parsed, the top 20 by fastscore
        wix = FileStorage(str(Path(paths["index"]) / "whoosh")).open_index(indexname="papers")
        searcher = wix.searcher()
        parser = make_parser(make_schema())
        t = time.perf_counter()
        out["self_test"] = str(wi.self_test())
        out["self_test_s"] = time.perf_counter() - t
        if "decoded" in engine:
            wi.segment_arrays = lambda reader: None  # type: ignore[assignment]

        def run(q: str) -> int:
            return len(fastscore.fast_search(searcher, parse_query(q, parser).query, limit=20).docnums)

    elif engine.startswith("ours"):
        db = Database(paths["db_url"])
        index = SearchIndex(Path(paths["index"])).open(owner=False)
        if engine == "ours-nocache":
            index.results.budget = 0
        t = time.perf_counter()
        out["self_test"] = str(wi.self_test())  # what the index should run at open
        out["self_test_s"] = time.perf_counter() - t
        if engine.startswith("ours-decoded"):  # the baseline: Whoosh's blocks decoded on first use
            wi.segment_arrays = lambda reader: None  # type: ignore[assignment]
        if engine.endswith("+warm-up"):
            t = time.perf_counter()
            out["warmed_terms"] = index.warm()
            out["warm_up_s"] = time.perf_counter() - t

        def run(q: str) -> int:
            r = index.search(q, pagelen=20, db=db)
            if r.error:
                raise SystemExit(f"query {q!r} failed: {r.error}")
            return len(r.hits)

    elif engine == "fts5":
        con = sqlite3.connect(paths["fts"])

        def run(q: str) -> int:
            return len(fts_query(con, q))

    elif engine == "tantivy":
        index_t = tantivy.Index.open(paths["tantivy"])
        schema = tantivy_schema()
        searcher = index_t.searcher()

        def run(q: str) -> int:
            query = index_t.parse_query(
                q, list(FIELD_BOOSTS), field_boosts=FIELD_BOOSTS, conjunction_by_default=True
            )
            found = searcher.search(query, 20)
            title = tantivy.SnippetGenerator.create(searcher, query, schema, "title")
            title.set_max_num_chars(1000)
            abstract = tantivy.SnippetGenerator.create(searcher, query, schema, "abstract")
            for _score, address in found.hits:
                doc = searcher.doc(address)
                doc["id"]
                title.snippet_from_doc(doc).to_html()
                abstract.snippet_from_doc(doc).to_html()
            return len(found.hits)

    else:
        raise SystemExit(f"unknown engine {engine}")
    out["open_s"] = time.perf_counter() - started
    out["cold"], out["empty"] = timed(run, queries)
    out["warm"], _ = timed(run, queries)
    out["peak_rss"] = status_kib("VmHWM")
    return out


def run_child(engine: str, paths: dict[str, str], queries_file: Path, disk_cold: bool) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", engine, json.dumps(paths), str(queries_file)]
    if disk_cold:
        cmd.append("--disk-cold")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode:
        raise SystemExit(f"{engine} child failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.splitlines()[-1]))


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def rank(p: float) -> float:  # nearest rank
        return ordered[max(0, min(len(ordered) - 1, -(-len(ordered) * p // 100) - 1))]

    return {
        "p50": statistics.median(ordered),
        "p95": rank(95),
        "p99": rank(99),
        "mean": statistics.fmean(ordered),
        "qps": 1000 * len(ordered) / sum(ordered),
    }


def line(
    label: str, values: list[float], r: dict[str, Any] | None = None, target: float | None = None
) -> str:
    s = stats(values)
    mark = ""
    if target is not None:
        mark = f" [p95 <= {target:.0f} ms{' met' if s['p95'] <= target else ' NOT met'}]"
    mem = ""
    if r is not None:
        mem = f", peak RSS {r['peak_rss'] / 2**20:.0f} MiB ({r['base_rss'] / 2**20:.0f} before opening)"
    return (
        f"  {label:<44} p50 {s['p50']:6.1f}  p95 {s['p95']:6.1f}  p99 {s['p99']:6.1f}  "
        f"mean {s['mean']:6.1f} ms  {s['qps']:6.0f} q/s{mem}{mark}"
    )


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the index workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def daemon_env(out: Path, db_url: str, index_dir: Path) -> tuple[dict[str, str], int]:
    """The environment of a real ``coolstove run`` over the bench's database and index (no crawling)."""
    data = out / "daemon-data"
    data.mkdir(exist_ok=True)
    link = data / "index"
    if not link.is_symlink():
        shutil.rmtree(link, ignore_errors=True)
        link.symlink_to(index_dir.resolve())
    pages = free_port()
    env = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": "1",
        "COOLSTOVE_STORAGE__DATA_DIR": str(data),
        "COOLSTOVE_HTTP__LISTEN": f"127.0.0.1:{free_port()}",
        "COOLSTOVE_HTTP__PAGES_LISTEN": f"127.0.0.1:{pages}",
        "COOLSTOVE_PAPERS__ENABLED": "true",
        "COOLSTOVE_PAPERS__DATABASE_URL": db_url,
        "COOLSTOVE_PAPERS__CATEGORIES": "cs.LG",
        "COOLSTOVE_PAPERS__RSS_URL": "http://127.0.0.1:9/atom/{category}",
        "COOLSTOVE_PAPERS__API_URL": "http://127.0.0.1:9/api",
        "COOLSTOVE_PAPERS__OAI_URL": "http://127.0.0.1:9/oai",
    }
    env.pop("COOLSTOVE_CONFIG", None)
    return env, pages


def start_daemon(
    out: Path, env: dict[str, str], log_name: str
) -> tuple[subprocess.Popen[bytes], Path, float]:
    """Start ``coolstove run``; returns it once its start-up check has logged (and how long that took)."""
    log = out / log_name
    started = time.perf_counter()
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daemon.cli", "run"], cwd=ROOT, env=env, stdout=fh, stderr=fh
        )
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        if "search index checked" in log.read_text(errors="replace"):
            return proc, log, time.perf_counter() - started
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the daemon's start-up check did not finish within an hour")


def proc_status(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(row.split(":", 1) for row in status.splitlines() if ":" in row)
    return {k: int(fields[k].split()[0]) * 1024 for k in ("VmHWM", "VmRSS")}


def http_pass(port: int, queries: list[str]) -> list[float]:
    times = []
    for q in queries:
        started = time.perf_counter()
        url = f"http://127.0.0.1:{port}/search?" + urllib.parse.urlencode({"q": q})
        with urllib.request.urlopen(url, timeout=60) as r:
            r.read()
            if r.status != 200:
                raise SystemExit(f"/search?q={q} answered {r.status}")
        times.append((time.perf_counter() - started) * 1000)
    return times


def real_daemon(out: Path, db_url: str, index_dir: Path, queries: list[str]) -> dict[str, Any]:
    """The daemon users run: a first start (which records the index's write generation), then a
    second, measured one: its start-up check, the first run of each query (cold) and a second
    (warm) over HTTP on its pages port, and its RSS while serving. The index files are read into the
    page cache just before the measured start: a first start that compares the whole database with a
    new index reads the database, which evicts the index from this machine's page cache."""
    env, port = daemon_env(out, db_url, index_dir)
    result: dict[str, Any] = {}
    for attempt, name in ((1, "first start"), (2, "measured start")):
        if attempt == 2:
            result["primed"] = prime([index_dir])
        proc, log, ready_s = start_daemon(out, env, f"daemon-{attempt}.log")
        try:
            checked = [ln for ln in log.read_text().splitlines() if "search index checked" in ln][-1]
            result[name] = {"ready_s": ready_s, "check": checked.split("search index checked: ", 1)[-1]}
            if attempt == 2:
                result["idle"] = proc_status(proc.pid)
                result["cold"] = http_pass(port, queries)
                result["warm"] = http_pass(port, queries)
                result["serving"] = proc_status(proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(120)
    return result


# ---------------------------------------------------------------- the previous run's figures


def load_previous(out: Path) -> dict[str, Any]:
    """The figures of the last run on this corpus (``figures.json``), printed beside this run's."""
    try:
        got = json.loads((out / "figures.json").read_text())
    except (OSError, ValueError):
        got = {}
    return {"before": got, "now": dict(got)}


def remember(previous: dict[str, Any], out: Path, key: str, value: dict[str, Any]) -> None:
    previous["now"][key] = {**value, "when": time.strftime("%Y-%m-%d %H:%M"), "load": os.getloadavg()[0]}
    tmp = out / "figures.json.tmp"
    tmp.write_text(json.dumps(previous["now"], indent=1))
    os.replace(tmp, out / "figures.json")


def print_previous(previous: dict[str, Any], key: str, values: list[float]) -> None:
    old = previous["before"].get(key)
    if old:
        print(
            f"    previous run ({old['when']}, load {old['load']:.1f}):{'':<9} p50 {old['p50']:6.1f}  "
            f"p95 {old['p95']:6.1f}  p99 {old['p99']:6.1f}  mean {old['mean']:6.1f} ms"
        )


# ---------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--papers", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=240)
    ap.add_argument("--seed", type=int, default=20240505)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--reuse", action="store_true", help="keep the indexes of an earlier run (no build figures)"
    )
    ap.add_argument("--build-only", action="store_true", help="stop after the builds and their figures")
    ap.add_argument("--daemon-only", action="store_true", help="with --reuse: only the real daemon's figures")
    ap.add_argument(
        "--memory-mb", type=int, default=Config().search.build_memory_mb,
        help="the rebuild's memory budget ([search] build_memory_mb)",
    )
    ap.add_argument("--child", nargs=3, metavar=("ENGINE", "PATHS", "QUERIES"), help=argparse.SUPPRESS)
    ap.add_argument("--disk-cold", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.daemon_only and not args.reuse:
        ap.error("--daemon-only measures the indexes of an earlier run: give --reuse too")
    if args.child:
        engine, paths, qfile = args.child
        queries = json.loads(Path(qfile).read_text())
        print(json.dumps(child(engine, json.loads(paths), queries, args.disk_cold)))
        return

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
    index_dir, fts_file, tantivy_dir = out / "index", out / "fts5.db", out / "tantivy"
    large = args.papers > LARGE
    previous = load_previous(out)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before the builds")
    if large:
        print(
            f"  above {LARGE:,} papers: no SQLite FTS5 and no previous (decoded) path, whose common-word "
            "queries take seconds at this size; tantivy is the anchor"
        )
    if args.reuse and index_dir.exists() and tantivy_dir.exists() and (large or fts_file.exists()):
        with SearchIndex(index_dir).open(owner=False) as index:
            count = index.doc_count()
        print(f"indexes of an earlier run reused ({count:,} papers): no build figures")
        if args.daemon_only:
            queries = json.loads((out / "queries.json").read_text())
            print(f"--daemon-only: the real daemon alone, the earlier run's {len(queries)} queries")
            db.close()
            daemon_part(out, db_url, index_dir, queries, previous, large)
            return
    else:
        if args.daemon_only:
            sys.exit(f"--daemon-only: no indexes of an earlier run in {out} to reuse")
        shutil.rmtree(index_dir, ignore_errors=True)
        index = SearchIndex(index_dir, procs=args.procs, build_memory_mb=args.memory_mb).open()
        cpu0 = cpu_seconds()
        t = time.perf_counter()
        count = index.reindex(db)
        build_s = time.perf_counter() - t
        build_cpu = cpu_seconds() - cpu0
        index.close()
        rate = count / build_s
        target_s = 25 * 60 * count / 2_700_000
        verdict = f"target <= {target_s / 60:.1f} min (25 min at 2.7M)" + (
            " met" if build_s <= target_s else " NOT met"
        )
        workers_hwm = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        print(
            f"index build (ours): {count:,} papers in {build_s:.1f} s ({build_s / 60:.1f} min) = {rate:,.0f} "
            f"papers/s, {args.procs if count >= 20_000 else 1} worker process(es) [{verdict}]; "
            f"{build_cpu:.0f} CPU-s = {count / build_cpu:,.0f} papers per CPU-second; peak RSS of a worker "
            f"{workers_hwm / 2**20:,.0f} MiB, of the parent {status_kib('VmHWM') / 2**20:,.0f} MiB "
            f"(budget {args.memory_mb:,} MB for the workers); load average {os.getloadavg()[0]:.1f} after"
        )
        remember(previous, out, "build", {"papers_s": rate, "seconds": build_s, "load": os.getloadavg()[0]})
        if not large:
            fts_s = build_fts(db_file, fts_file)
            fts_rate = count / fts_s
            print(f"sqlite {sqlite3.sqlite_version} FTS5 build: {fts_s:.1f} s = {fts_rate:,.0f} papers/s")
        cpu0 = cpu_seconds()
        tv_s = build_tantivy(db_file, tantivy_dir, args.procs)
        print(
            f"tantivy {TANTIVY} build ({args.procs} threads): {tv_s:.1f} s = "
            f"{count / tv_s:,.0f} papers/s, {cpu_seconds() - cpu0:.0f} CPU-s"
        )
    side = sum(f.stat().st_size for f in index_dir.rglob("*.fp?"))
    stored = sum(f.stat().st_size for f in index_dir.rglob("*._stored.col"))
    ours_b = dir_size(index_dir)
    fts_size = "" if large else f"FTS5 {fts_file.stat().st_size / 1e6:.1f} MB (with its copy of the text), "
    print(
        f"size on disk: ours {ours_b / 1e6:.1f} MB ({ours_b / count:,.0f} bytes/paper, of which side files "
        f"{side / 1e6:.1f} MB, the hits' stored text {stored / 1e6:.1f} MB), "
        f"{fts_size}tantivy {dir_size(tantivy_dir) / 1e6:.1f} MB "
        f"(text stored for snippets)"
    )
    with SearchIndex(index_dir).open(owner=False) as index, index._searcher() as s:
        sizes = [sub.doc_count_all() for sub, _ in s.leaf_searchers()]
    print(f"segments: {len(sizes)} ({', '.join(f'{n:,}' for n in sizes)} papers)")
    if args.build_only:
        return

    docs = db.read_blocking(lambda s: [tuple(r) for r in s.execute(text(SAMPLE))])
    queries = corpus.queries(docs, args.queries)
    qfile = out / "queries.json"
    qfile.write_text(json.dumps(queries))
    print(f"queries: {len(queries)} fixed queries of 1-4 terms (seeded), e.g. {queries[:4]}")

    paths = {
        "db_url": db_url,
        "db": str(db_file),
        "index": str(index_dir),
        "fts": str(fts_file),
        "tantivy": str(tantivy_dir),
    }
    runs = [
        ("ours", "ours (side files)", False),
        ("ours-nocache", "  ours without the result cache", False),
        ("ours-rank", "  its ranking alone (parse + fast_search)", False),
        ("ours-decoded", "ours, side files ignored (the previous path)", False),
        ("ours-decoded-rank", "  its ranking alone", False),
        ("ours-decoded+warm-up", "  the same after the start-up warm-up", False),
        ("fts5", "SQLite FTS5", False),
        ("tantivy", f"tantivy {TANTIVY}", False),
        ("ours", "ours (side files)", True),
        ("ours-decoded", "ours, side files ignored (the previous path)", True),
        ("fts5", "SQLite FTS5", True),
        ("tantivy", f"tantivy {TANTIVY}", True),
    ]
    if large:
        runs = [r for r in runs if not r[0].startswith(("fts5", "ours-decoded"))]
    primed = prime([index_dir])
    results = [(label, disk, engine, run_child(engine, paths, qfile, disk)) for engine, label, disk in runs]
    ours = results[0][3]
    print(
        f"page cache: our index files ({primed / 1e6:,.0f} MB) read once before the cold passes, nothing "
        "else (the database and the anchors' files are as earlier passes left them); disk-cold evicts all"
    )
    print(
        f"each engine in a fresh process; top 20 with highlights; load average {os.getloadavg()[0]:.1f}; "
        f"ours opened in {ours['open_s']:.2f} s ({ours['self_test']}, self-test {ours['self_test_s']:.2f} s)"
    )
    for phase, title in (("cold", "cold (first run of each query after start):"), ("warm", "warm (again):")):
        print(title)
        for label, disk, engine, r in results:
            if disk:
                continue
            extra = ""
            if "warm_up_s" in r and phase == "cold":
                extra = f" ({r['warmed_terms']} terms, {r['warm_up_s']:.1f} s)"
            goal = None
            if engine.startswith("ours"):
                goal = (50.0 if phase == "cold" else 20.0) if large else TARGET_P95_MS
            print(line(label + extra, r[phase], r, target=goal))
            print_previous(previous, f"{phase}:{label}", r[phase])
            remember(previous, out, f"{phase}:{label}", stats(r[phase]))
    print("disk-cold (the engine's files evicted from the page cache first, then the first run):")
    for label, disk, _engine, r in results:
        if disk:
            print(line(f"{label} ({r['evicted'] / 1e6:.0f} MB evicted)", r["cold"], r))
    print(f"  {ours['empty']} of {len(queries)} queries without hits (ours)")

    db.close()
    daemon_part(out, db_url, index_dir, queries, previous, large)


def daemon_part(
    out: Path, db_url: str, index_dir: Path, queries: list[str], previous: dict[str, Any], large: bool
) -> None:
    """The real daemon's figures (also alone: ``--reuse --daemon-only``)."""
    d = real_daemon(out, db_url, index_dir, queries)
    print(
        f"the real daemon (`coolstove run`, papers on, no crawling) serving /search on its pages port; "
        f"its measured start came after the index files ({d['primed'] / 1e6:,.0f} MB; not the database) "
        f"were read into the page cache; load average {os.getloadavg()[0]:.1f}:"
    )
    for name in ("first start", "measured start"):
        print(f"  {name}: start-up check done {d[name]['ready_s']:.1f} s after spawn: {d[name]['check']}")
    cold_target, rss_target = (50.0, 300) if large else (30.0, 200)
    for phase in ("cold", "warm"):
        target = cold_target if phase == "cold" else 20.0 if large else None
        s = stats(d[phase])
        met = "" if target is None else "met" if s["p95"] <= target else "NOT met"
        mark = "" if target is None else f" [p95 <= {target:.0f} ms {met}]"
        label = "first run of each query after start" if phase == "cold" else "the same again"
        print(line(f"daemon over HTTP, {label}", d[phase]) + mark)
        print_previous(previous, f"daemon:{phase}", d[phase])
        remember(previous, out, f"daemon:{phase}", s)
    hwm = d["serving"]["VmHWM"]
    print(
        f"  daemon RSS: {d['idle']['VmRSS'] / 2**20:.0f} MiB ready, "
        f"{d['serving']['VmRSS'] / 2**20:.0f} MiB after the queries, peak {hwm / 2**20:.0f} MiB "
        f"[target <= {rss_target} MiB "
        f"{'met' if hwm <= rss_target * 2**20 else 'NOT met'}]"
    )


if __name__ == "__main__":
    main()
