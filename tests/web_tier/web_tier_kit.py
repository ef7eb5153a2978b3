"""Helpers of the web tier's tests: snapshot files of made-up papers, an owned index, `coolstove web`
as a real process (optionally as another user, which cannot write the published folder)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import httpx

from core.database import Database
from feeds.importer import import_snapshot
from feeds.migrate import upgrade
from search.index import SearchIndex

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "arxiv" / "snapshot_small.jsonl"
NOBODY = 65534
HIT_RE = re.compile(r'<div class="paper" id="([^"]+)"')

# `coolstove web` whether or not daemon/cli.py lists it yet (its LazyGroup entry is added by hand)
LAUNCHER = (
    "import sys\n"
    "from daemon.cli import cli, main\n"
    "if 'web' not in cli.lazy:\n"
    "    from daemon.cli_web import web\n"
    "    cli.add_command(web)\n"
    "main(sys.argv[1:])\n"
)


def open_dir(prefix: str) -> Path:
    """A temporary folder every user can enter (pytest's own are root's only)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def paper_id(n: int) -> str:
    return f"2301.{10000 + n:05d}"


def word(n: int) -> str:
    """A made-up word per paper, found only in that paper's title: ``quokka`` + letters."""
    letters = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        letters = chr(97 + r) + letters
    return f"quokka{letters}"


def write_snapshot(path: Path, numbers: Iterable[int]) -> list[str]:
    """Papers ``numbers`` in arXiv's snapshot format (one line each); returns their ids."""
    template = json.loads(FIXTURE.read_text(encoding="utf-8").splitlines()[1])
    ids = []
    with path.open("w", encoding="utf-8") as out:
        for n in numbers:
            rec = dict(template, id=paper_id(n), title=f"Adversarial {word(n)} networks number {n}",
                       abstract=f"  We study {word(n)} models and shared adversarial training.\n")
            out.write(json.dumps(rec) + "\n")
            ids.append(rec["id"])
    return ids


def filled_index(workdir: Path, numbers: Iterable[int]) -> tuple[Database, SearchIndex]:
    """A SQLite database with these papers and the index built from it, owned by this process."""
    url = f"sqlite:///{workdir / 'papers.db'}"
    upgrade(url)
    db = Database(url)
    add_papers(db, workdir, numbers)
    index = SearchIndex(workdir / "index").open()
    index.reindex(db)
    return db, index


def add_papers(db: Database, workdir: Path, numbers: Iterable[int]) -> list[str]:
    numbers = list(numbers)
    snap = workdir / f"snap-{numbers[0]}-{numbers[-1]}.jsonl"
    ids = write_snapshot(snap, numbers)
    import_snapshot(db, snap)
    return ids


def tree(path: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under ``path`` with (inode, size, mtime_ns): a write shows as a difference."""
    out = {}
    for p in sorted(path.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(path))] = (st.st_ino, st.st_size, st.st_mtime_ns)
    out["."] = (path.stat().st_ino, 0, path.stat().st_mtime_ns)
    return out


class WebProc:
    """``coolstove web`` as a real process on a free port."""

    def __init__(self, workdir: Path, config: Path, env: dict[str, str], port: int, name: str,
                 *, uid: int | None = None, index: Path | None = None) -> None:
        self.workdir, self.config, self.env, self.port, self.name = workdir, config, env, port, name
        self.uid = uid
        self.index = index
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        as_user = (["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups"]
                   if self.uid else [])
        args = [*as_user, sys.executable, "-c", LAUNCHER, "--config", str(self.config), "web",
                "--listen", f"127.0.0.1:{self.port}"]
        if self.index is not None:
            args += ["--index", str(self.index)]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, cwd=self.workdir, env=self.env, stdout=log, stderr=log)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, **kw: object) -> httpx.Response:
        return httpx.get(self.base + path, timeout=10, **kw)  # type: ignore[arg-type]

    def hits(self, query: str) -> list[str]:
        r = self.get("/search", params={"q": query})
        assert r.status_code == 200, (r.status_code, r.text[:300])
        return HIT_RE.findall(r.text)

    def wait_healthy(self, timeout: float = 30.0) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                r = self.get("/healthz")
                if r.status_code == 200:
                    return dict(r.json())
                last = r.text
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not healthy in {timeout} s ({last}):\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            return None


def can_switch_user() -> bool:
    return os.geteuid() == 0 and subprocess.run(["setpriv", "--version"], capture_output=True).returncode == 0
