"""Web figures: time to first byte of a 500-paper day list (target <= 100 ms), served as the daemon does;
then the web tier (issue 11): requests/s of the daemon alone, one and two ``coolstove web`` processes.

A database of ``--papers`` papers (same seeded snapshot-format generator as
bench_search, imported through the crawler's store) gets ``--day-size``
announcements in cs.LG on one day and smaller days before it; the project's
router runs under uvicorn in a separate process, and a raw socket measures
the time from sending the request to the first byte of the answer, and to
the last.

The web tier part puts the same papers in PostgreSQL (started as the tests
start it; SQLite when PostgreSQL is not installed, said so), runs the real
daemon (``coolstove run``) on it with ``[search] publish_dir``, and measures
``--clients`` keep-alive connections from this process requesting searches
(and, apart, a 100-paper day page) for ``--seconds`` each: against the
daemon's pages origin alone, then one ``coolstove web`` process, then two
(the connections split between them, as a load balancer would). Latency is
per request, as the client sees it; peak RSS is each process's VmHWM.

    .venv/bin/python bench/bench_web.py
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

import sqlalchemy  # noqa: E402
from bench_search import OUT, Corpus, free_port, import_snapshot  # noqa: E402
from services import postgres_bindir, run_postgres  # noqa: E402  (PostgreSQL as the tests start it)

BIG_DAY = "/arxiv/cs.LG?date=2024-03-05"  # the day of --day-size papers
DAY_PAGE = "/arxiv/cs.LG?date=2024-03-04"  # a day of 100 papers


def build(out: Path, papers: int, day_size: int, seed: int) -> tuple[str, Path]:
    from core.database import Database
    from search.index import SearchIndex

    out.mkdir(parents=True, exist_ok=True)
    corpus_file = out / "snapshot.jsonl"
    db_file = out / "papers.db"
    if db_file.exists():
        db_file.unlink()
    Corpus(seed).write(corpus_file, papers)
    db_url = f"sqlite:///{db_file}"
    import_snapshot(corpus_file, db_url)
    announce(db_url, day_size, seed)
    index_dir = out / "index"
    shutil.rmtree(index_dir, ignore_errors=True)
    db = Database(db_url)
    with SearchIndex(index_dir).open() as ix:
        ix.reindex(db)
    db.close()
    return db_url, index_dir


def announce(db_url: str, day_size: int, seed: int) -> None:
    """``day_size`` papers announced in cs.LG on 2024-03-05, 100 a day on the 29 days before."""
    from core.database import Database
    from feeds.models import Announcement

    db = Database(db_url)
    ids = db.read_blocking(
        lambda s: [r[0] for r in s.execute(sqlalchemy.text("SELECT id FROM papers ORDER BY id"))]
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
    db.close()


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
    ap.add_argument("--clients", type=int, default=8, help="keep-alive connections of the web tier's load")
    ap.add_argument("--seconds", type=float, default=8.0, help="length of each web tier measurement")
    ap.add_argument("--queries", type=int, default=1000,
                    help="different searches per web tier figure (none repeats another figure's)")
    ap.add_argument("--serve", nargs=3, metavar=("DB_URL", "INDEX_DIR", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve[0], Path(args.serve[1]), int(args.serve[2]))
        return
    out = OUT / f"web-{args.papers}-{args.day_size}"
    print(
        f"database: {args.papers:,} generated papers (seed {args.seed}), {args.day_size} announced in cs.LG "
        f"on 2024-03-05, 100 a day on the 29 days before"
    )
    db_url, index_dir = build(out, args.papers, args.day_size, args.seed)
    ttfb_figures(args, db_url, index_dir)
    web_tier(args, out, db_url)


def ttfb_figures(args: argparse.Namespace, db_url: str, index_dir: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", db_url, str(index_dir), str(port)],
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
            # the 500-paper day by its date: since imported papers are listed by their first version's day
            # too, /arxiv/cs.LG alone opens on the generated corpus's newest day (one paper)
            ("day list /arxiv/cs.LG?date=2024-03-05", BIG_DAY),
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
            if path == BIG_DAY:
                line += f" [target TTFB <= 100 ms{' met' if pct(ttfbs, 0.95) <= 100 else ' NOT met'} at p95]"
            print(line)
    finally:
        server.terminate()
        server.wait(10)


def serve(db_url: str, index_dir: Path, port: int) -> None:
    """Child mode: the daemon's search side alone (router + index + database) on loopback."""
    import uvicorn
    from fastapi import FastAPI

    from core.config import Config
    from core.database import Database
    from search.index import SearchIndex
    from search.web import make_router

    db = Database(db_url)
    index = SearchIndex(index_dir).open()
    app = FastAPI()
    app.include_router(make_router(Config(), db, index))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _some_id(db_url: str) -> str:
    con = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    try:
        row = con.execute("SELECT paper_id FROM announcements ORDER BY position LIMIT 1").fetchone()
        return f"/arxiv/{row[0]}"
    finally:
        con.close()



# ---------------------------------------------------------------- the web tier (issue 11)

# `coolstove web` whether or not daemon/cli.py lists it yet
LAUNCHER = (
    "import sys\n"
    "from daemon.cli import cli, main\n"
    "if 'web' not in cli.lazy:\n"
    "    from daemon.cli_web import web\n"
    "    cli.add_command(web)\n"
    "main(sys.argv[1:])\n"
)



@dataclass
class Load:
    """What ``clients`` connections got in ``seconds``."""

    seconds: float
    latencies: list[float] = field(default_factory=list)  # ms
    errors: int = 0
    size: int = 0
    server_cpu: float = 0.0  # CPU seconds of the serving processes during the figure
    client_cpu: float = 0.0  # CPU seconds of this process (the load's threads) during the figure

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def line(self, label: str, load_avg: float, than: Load | None = None) -> str:
        lat = self.latencies or [0.0]
        ratio = f"  (x{self.rate / than.rate:.2f} of one)" if than is not None and than.rate else ""
        n = max(1, len(self.latencies))
        return (f"    {label:<32} {self.rate:6.1f} req/s  p50 {statistics.median(lat):6.1f} ms  "
                f"p95 {pct(lat, 0.95):6.1f} ms  {self.errors} errors  CPU/request: servers "
                f"{self.server_cpu / n * 1000:5.1f} ms, client {self.client_cpu / n * 1000:4.1f} ms  "
                f"servers busy {self.server_cpu / self.seconds:4.2f} cores  load {load_avg:.1f}{ratio}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(ports: list[int], paths: list[str], clients: int, seconds: float, pids: list[int]) -> Load:
    """``clients`` keep-alive connections, the i-th to ``ports[i % len(ports)]``, each requesting
    ``paths`` in turn (from its own offset) for ``seconds``; every answer read whole. ``pids``: the
    serving processes, whose CPU time is counted."""
    result = Load(seconds)
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", ports[i % len(ports)], timeout=60)
        mine: list[float] = []
        errors = 0
        n = i * 7
        start.wait()
        while True:
            path = paths[n % len(paths)]
            n += 1
            t0 = time.perf_counter()
            if t0 >= stop_at[0]:
                break
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", ports[i % len(ports)], timeout=60)
                ok, body = False, b""
            mine.append((time.perf_counter() - t0) * 1000)
            errors += not ok
            result.size = max(result.size, len(body))
        conn.close()
        with lock:
            result.latencies.extend(mine)
            result.errors += errors

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    server_before = sum(cpu_seconds(pid) for pid in pids)
    client_before = time.process_time()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start.wait()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - began  # the last requests end after ``seconds``
    result.server_cpu = sum(cpu_seconds(pid) for pid in pids) - server_before
    result.client_cpu = time.process_time() - client_before
    return result


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields["VmHWM"].split()[0]) / 1024


def wait_http(port: int, path: str, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the server on {port} exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        if time.monotonic() > deadline:
            raise SystemExit(f"no answer to {path} on {port} in {timeout:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


@contextlib.contextmanager
def tier_database(out: Path, sqlite_url: str, args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """(URL, what it is): the same papers in a PostgreSQL started here, else the SQLite file."""
    bindir = postgres_bindir()
    if bindir is None:
        yield sqlite_url, "SQLite (PostgreSQL is not installed here), shared by the processes of this machine"
        return
    from feeds.migrate import upgrade

    version = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True).stdout
    with run_postgres() as url:
        started = time.perf_counter()
        upgrade(url)
        import_snapshot(out / "snapshot.jsonl", url)
        announce(url, args.day_size, args.seed)
        yield url, (f"PostgreSQL {version.split()[2]} started here as the tests start it (fsync off), "
                    f"{args.papers:,} papers imported in {time.perf_counter() - started:.1f} s")


def web_tier(args: argparse.Namespace, out: Path, sqlite_url: str) -> None:
    tier = out / "tier"
    shutil.rmtree(tier, ignore_errors=True)
    tier.mkdir(parents=True)
    (tier / "config.toml").write_text("")
    con = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    docs = con.execute("SELECT title, abstract FROM papers ORDER BY id").fetchall()
    con.close()
    warm = 10
    queries = Corpus(args.seed).queries(docs, 4 * args.queries + warm)
    searches = ["/search?" + urllib.parse.urlencode({"q": q}) for q in queries]
    print(f"web tier (issue 11): {args.clients} keep-alive connections from this process, {args.seconds:g} s "
          f"per figure after {warm} warm-up requests per process; searches of 1-4 words, {args.queries} "
          f"different ones per figure, none repeated from another figure, so the result cache ranks none "
          f"twice (e.g. {queries[:3]}); the day page {DAY_PAGE}")
    with tier_database(out, sqlite_url, args) as (db_url, what):
        print(f"  database: {what}")
        print("  CPU/request: user+system time of the serving processes (not PostgreSQL's) and of this "
              "process's load threads, per request; servers busy: their CPU time over the figure's time")
        pub = tier / "publish"
        env = {k: v for k, v in os.environ.items() if not k.startswith("COOLSTOVE_")}
        env.update({
            "COOLSTOVE_PAPERS__DATABASE_URL": db_url,
            "COOLSTOVE_SEARCH__PUBLISH_DIR": str(pub),
            "COOLSTOVE_PAPERS__CATEGORIES": "cs.LG",
            "COOLSTOVE_DAEMON__LOG_LEVEL": "WARNING",
        })
        pages = free_port()
        daemon_env = {
            **env,
            "COOLSTOVE_PAPERS__ENABLED": "true",
            "COOLSTOVE_STORAGE__DATA_DIR": str(tier / "daemon"),
            "COOLSTOVE_HTTP__LISTEN": f"127.0.0.1:{free_port()}",
            "COOLSTOVE_HTTP__PAGES_LISTEN": f"127.0.0.1:{pages}",
            "COOLSTOVE_HTTP_TOKEN": "bench-token",
            "COOLSTOVE_PAPERS__RSS_URL": "http://127.0.0.1:9/atom/{category}",  # no crawling in a benchmark
            "COOLSTOVE_PAPERS__API_URL": "http://127.0.0.1:9/api",
            "COOLSTOVE_PAPERS__OAI_URL": "http://127.0.0.1:9/oai",
            "XDG_RUNTIME_DIR": str(tier / "run"),
        }
        procs: list[subprocess.Popen[bytes]] = []

        def start(args_: list[str], env_: dict[str, str], name: str) -> subprocess.Popen[bytes]:
            with (tier / f"{name}.log").open("ab") as log:
                proc = subprocess.Popen([sys.executable, *args_], cwd=tier, env=env_, stdout=log, stderr=log)
            procs.append(proc)
            return proc

        figures = iter(range(4))

        def measure(ports: list[int], pids: list[int], label: str,
                    than: dict[str, Load] | None = None) -> dict[str, Load]:
            got = {}
            k = next(figures)
            mine = searches[warm + k * args.queries: warm + (k + 1) * args.queries]
            for what, paths, warmup in (("search", mine, searches[:warm]), ("day", [DAY_PAGE], [DAY_PAGE])):
                for port in ports:  # templates compiled, connections and caches of a running server
                    for path in warmup:
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                        conn.request("GET", path)
                        conn.getresponse().read()
                        conn.close()
                got[what] = load(ports, paths, args.clients, args.seconds, pids)
                lines[what].append(got[what].line(label, os.getloadavg()[0], than[what] if than else None))
            return got

        lines: dict[str, list[str]] = {"search": [], "day": []}
        try:
            started = time.perf_counter()
            cfg = str(tier / "config.toml")
            daemon = start(["-m", "daemon.cli", "--config", cfg, "run"], daemon_env, "daemon")
            wait_http(pages, "/search?q=learning", 300, daemon, tier / "daemon.log")
            deadline = time.monotonic() + 300
            while not _published(pub, args.papers):
                if time.monotonic() > deadline:
                    raise SystemExit("the daemon did not publish its index in 300 s")
                time.sleep(0.5)
            print(f"  the daemon built its index from the database and published it in "
                  f"{time.perf_counter() - started:.1f} s; load average {os.getloadavg()[0]:.1f}")
            time.sleep(2)  # its start-up work (the index check, the warm-up) is done
            measure([pages], [daemon.pid], "daemon alone (its pages origin)")
            webs = []
            for i in (1, 2):
                port = free_port()
                web = start(["-c", LAUNCHER, "--config", cfg, "web",
                             "--listen", f"127.0.0.1:{port}"], env, f"web{i}")
                wait_http(port, "/healthz", 120, web, tier / f"web{i}.log")
                webs.append((port, web))
                if i == 1:
                    one = measure([port], [web.pid], "one coolstove web")
                else:
                    measure([p for p, _ in webs], [w.pid for _, w in webs], "two coolstove web (split)", one)
            rss = ", ".join(f"web {i} {peak_rss_mib(w.pid):.0f} MiB" for i, (_, w) in enumerate(webs, 1))
            for _, w in webs:
                w.terminate()
                w.wait(20)
            measure([pages], [daemon.pid], "daemon alone, again")  # the order of the figures, ruled out
            size = {w: ld.size for w, ld in one.items()}
            print(f"  search (HTTP 200, {size['search'] / 1024:.0f} KiB the largest answer):")
            print("\n".join(lines["search"]))
            print(f"  day page {DAY_PAGE} (100 papers; HTTP 200, {size['day'] / 1024:.0f} KiB):")
            print("\n".join(lines["day"]))
            print(f"  peak RSS: daemon {peak_rss_mib(daemon.pid):.0f} MiB (stove guard, crawler, index "
                  f"writer and pages); {rss}")
        finally:
            for proc in reversed(procs):
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(20)
                if proc.poll() is None:
                    proc.kill()


def _published(pub: Path, papers: int) -> bool:
    try:
        name = (pub / "CURRENT").read_text().strip()
        manifest = json.loads((pub / "generations" / name / "coolstove-publish.json").read_text())
    except (OSError, ValueError):
        return False
    return int(manifest["documents"]) == papers


if __name__ == "__main__":
    main()
