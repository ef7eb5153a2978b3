"""Issue 11's web tier, end to end: a real PostgreSQL, one real writing daemon publishing its index
generations, and two real ``coolstove web`` processes (one of them a user who cannot write the
published folder) serving the same search while the daemon commits, then after it is killed."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from daemon_proc import DaemonProc
from services import free_port
from sqlalchemy import create_engine, text
from waiting import wait_for_sync
from web_tier_kit import NOBODY, WebProc, can_switch_user, open_dir, paper_id, word, write_snapshot

from core.database import Database
from feeds.importer import import_snapshot
from search.publish import CURRENT, GENERATIONS, PublishError, read_current, read_manifest

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def pg_db(postgres_url: str) -> Iterator[tuple[str, str]]:
    """A database of its own on the session's PostgreSQL server: the daemon's URL (the owner), and the
    web processes' (a role with deploy/web-tier.md's grants, given by :func:`_grant_web_role`)."""
    name = f"webtier_{uuid.uuid4().hex[:10]}"
    role = f"{name}_web"
    server = postgres_url.rsplit("/", 1)[0]
    admin = create_engine(server + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    try:
        web_server = server.replace("//coolstove@", f"//{role}@")
        yield f"{server}/{name}", f"{web_server}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def _grant_web_role(owner_url: str, web_url: str) -> None:
    """deploy/web-tier.md's grants: read everything, star (nothing else)."""
    role = web_url.split("//", 1)[1].split("@", 1)[0]
    engine = create_engine(owner_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"'))
        conn.execute(text(f'GRANT INSERT, DELETE ON stars TO "{role}"'))
    engine.dispose()


def _published(pub: Path) -> tuple[str | None, int]:
    try:
        name = read_current(pub)
        return name, (read_manifest(pub / GENERATIONS / name).documents if name else 0)
    except PublishError:  # between a rename and its CURRENT, or the test's own garbage
        return None, 0


def _point(pub: Path, content: bytes) -> None:
    (pub / "CURRENT.test").write_bytes(content)
    os.replace(pub / "CURRENT.test", pub / CURRENT)


class Hammer(threading.Thread):
    """Searches both web processes without pause, recording every answer that is not a 200."""

    def __init__(self, webs: list[WebProc]) -> None:
        super().__init__(daemon=True)
        self.webs = webs
        self.stop = threading.Event()
        self.done = 0
        self.failures: list[str] = []

    def run(self) -> None:
        clients = [httpx.Client(base_url=w.base, timeout=10) for w in self.webs]
        queries = ["adversarial", word(0), "networks", "adversarial training"]
        n = 0
        while not self.stop.is_set():
            client = clients[n % len(clients)]
            q = queries[n % len(queries)]
            n += 1
            try:
                r = client.get("/search", params={"q": q})
                if r.status_code != 200 or 'class="paper"' not in r.text:
                    self.failures.append(f"{client.base_url} {q}: {r.status_code} {r.text[:200]}")
            except httpx.HTTPError as exc:
                self.failures.append(f"{client.base_url} {q}: {exc!r}")
            self.done += 1
        for c in clients:
            c.close()


@pytest.mark.skipif(not can_switch_user(), reason="the second web process runs as another user (needs root)")
def test_two_web_processes_serve_the_daemons_published_index_while_it_commits(pg_db: tuple[str, str]) -> None:
    owner_url, web_url = pg_db
    work = open_dir("coolstove-webtier-")
    pub = work / "publish"
    shared = {
        "COOLSTOVE_PAPERS__ENABLED": "true",
        "COOLSTOVE_PAPERS__CATEGORIES": "cs.LG",
        "COOLSTOVE_SEARCH__PUBLISH_DIR": str(pub),
    }
    daemon = DaemonProc(work, "", {
        **shared,
        "COOLSTOVE_PAPERS__DATABASE_URL": owner_url,
        "COOLSTOVE_PAPERS__RSS_URL": "http://127.0.0.1:9/atom/{category}",  # nothing listens: the crawler
        "COOLSTOVE_PAPERS__API_URL": "http://127.0.0.1:9/api",              # fails and backs off
        "COOLSTOVE_PAPERS__OAI_URL": "http://127.0.0.1:9/oai",
    })
    web_env = {k: v for k, v in os.environ.items() if not k.startswith("COOLSTOVE_")}
    web_env.update(shared, COOLSTOVE_STORAGE__DATA_DIR=str(work / "web-data"),
                   COOLSTOVE_PAPERS__DATABASE_URL=web_url)  # may read, and star: nothing else
    webs = [
        WebProc(work, daemon.config_path, web_env, free_port(), "web-a"),
        WebProc(work, daemon.config_path, web_env, free_port(), "web-b", uid=NOBODY),  # cannot write pub
    ]
    hammer = Hammer(webs)

    def import_papers(numbers: list[int], *, cli: bool = False) -> None:
        """Another process writes papers (``coolstove papers import``, or this test through the store)."""
        snap = work / f"snap-{numbers[0]}.jsonl"
        write_snapshot(snap, numbers)
        if cli:
            r = daemon.cli("papers", "import", str(snap), "-q")
            assert r.returncode == 0, r.stderr
        else:
            with Database(owner_url) as db:
                assert import_snapshot(db, snap).papers == len(numbers)

    def everywhere(query: str) -> list[list[str]]:
        return [w.hits(query) for w in webs]

    try:
        daemon.start(timeout=60)  # it migrated the database before READY
        _grant_web_role(owner_url, web_url)
        import_papers(list(range(5)), cli=True)
        wait_for_sync(lambda: _published(pub)[1] == 5, 30, interval=0.2)  # indexed and published
        for w in webs:
            w.start()
        health = [w.wait_healthy(60) for w in webs]
        name = read_current(pub)
        assert [h["index"] for h in health] == [name, name]
        assert [h["papers"] for h in health] == [5, 5]
        assert health[0]["database"] == "ok"

        # the same search, the same hits, from both
        assert everywhere(word(3)) == [[paper_id(3)]] * 2
        first = everywhere("adversarial")
        assert first[0] == first[1]
        assert sorted(first[0]) == [paper_id(n) for n in range(5)]

        # the daemon commits three times while both are searched without pause
        hammer.start()
        lags = []
        for batch in ([5, 6], [7, 8], [9, 10]):
            import_papers(batch)
            done = time.monotonic()
            wait_for_sync(lambda b=batch: everywhere(word(b[0])) == [[paper_id(b[0])]] * 2, 30, interval=0.1)
            lags.append(time.monotonic() - done)
        time.sleep(0.5)
        hammer.stop.set()
        hammer.join(15)
        assert hammer.failures == [], hammer.failures[:5]
        assert hammer.done >= 30, hammer.done
        # the daemon looks every 2 s, a web process every second (typically under 1 s here; the bound
        # leaves room for a machine loaded by other work)
        assert max(lags) < 15, lags
        top = everywhere("adversarial")
        assert top[0] == top[1]
        assert len(top[0]) == 11
        newest = read_current(pub)
        assert newest is not None
        assert int(newest) >= int(name or 0) + 3
        for w in webs:
            assert w.log().count("serving index generation") >= 4, w.log()
            assert w.wait_healthy()["index"] == newest

        # stars are rows in PostgreSQL: starred on one web process, seen and unstarred on the other
        a, b = webs
        assert httpx.post(a.base + f"/stars/{paper_id(7)}", data={"action": "add"}).status_code == 303
        assert paper_id(7) in b.get("/stars/export").text
        assert httpx.post(b.base + f"/stars/{paper_id(7)}", data={"action": "remove"}).status_code == 303
        assert paper_id(7) not in a.get("/stars/export").text
        # no on-demand fetch from a web process: a missing paper is a 404 that links to arXiv
        missing = a.get("/arxiv/2501.00001")
        assert missing.status_code == 404
        assert "https://arxiv.org/abs/2501.00001" in missing.text
        assert a.get("/stove").status_code == 404
        assert a.get("/api/stove").status_code == 404
        assert a.get("/search", headers={"Host": "evil.example"}).status_code == 400  # the daemon's guard

        # a CURRENT that names no usable generation is refused (logged) and the last good one serves on
        for bad, why in ((b"\x00garbage\n", "does not name a generation"),
                         (b"99999999\n", "no coolstove-publish.json")):
            _point(pub, bad)
            for w in webs:
                wait_for_sync(lambda w=w, why=why: why in w.log(), 10, interval=0.1)
            assert everywhere(word(9)) == [[paper_id(9)]] * 2
            assert [w.wait_healthy()["index"] for w in webs] == [newest, newest]
        _point(pub, f"{newest}\n".encode())

        # the writer dies: the web tier serves its last generation on
        daemon.signal(signal.SIGKILL)
        daemon.wait_exit(10)
        assert everywhere(word(10)) == [[paper_id(10)]] * 2
        assert everywhere("adversarial") == top
        assert [w.wait_healthy()["index"] for w in webs] == [newest, newest]

        for w in webs:
            assert w.stop() == 0, w.log()
            assert "Traceback" not in w.log(), w.log()
            assert "Permission denied" not in w.log(), w.log()
    except BaseException:
        for log in (daemon.log(), *(w.log() for w in webs)):  # shown by pytest with the failure
            print(log[-5000:])
        raise
    finally:
        hammer.stop.set()
        for w in webs:
            w.stop()
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
