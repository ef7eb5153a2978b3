"""The read-only replica (search.replica): follows CURRENT, refuses what is not whole, never writes."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from waiting import wait_for_sync
from web_tier_kit import NOBODY, add_papers, can_switch_user, filled_index, open_dir, paper_id, tree, word

from core.database import Database
from search.index import SearchIndex
from search.publish import CURRENT, GENERATIONS, MANIFEST, publish, read_manifest
from search.replica import LIVE, ReplicaIndex

T = TypeVar("T")


@pytest.fixture
def published(tmp_path: Path) -> Iterator[tuple[Database, SearchIndex, Path]]:
    """An owned index of papers 0-2 and its publish folder with one generation."""
    db, index = filled_index(tmp_path, range(3))
    pub = tmp_path / "pub"
    publish(index.index_dir, pub)
    yield db, index, pub
    index.close()
    db.close()


def _ids(replica: ReplicaIndex, query: str) -> list[str]:
    result = replica.search(query)
    assert result.ok, result.error
    return [h.id for h in result.hits]


def _commit_and_publish(
    db: Database, index: SearchIndex, workdir: Path, numbers: list[int], pub: Path
) -> str:
    add_papers(db, workdir, numbers)
    index.check(db)
    return publish(index.index_dir, pub)


def test_it_serves_the_current_generation_and_switches_when_current_moves(
    published: tuple[Database, SearchIndex, Path], tmp_path: Path
) -> None:
    db, index, pub = published
    with ReplicaIndex(pub).open(follow=False) as replica:
        assert replica.serving is not None
        assert replica.serving.name == "00000001"
        assert replica.serving.documents == 3 == replica.doc_count()
        assert _ids(replica, word(1)) == [paper_id(1)]
        assert _ids(replica, word(4)) == []
        _commit_and_publish(db, index, tmp_path, [4], pub)
        assert _ids(replica, word(4)) == []  # until it looks
        assert replica.refresh() is True
        assert replica.serving.name == "00000002"
        assert _ids(replica, word(4)) == [paper_id(4)]
        assert replica.refresh() is False  # nothing newer


def test_the_following_thread_finds_a_new_generation_within_a_second(
    published: tuple[Database, SearchIndex, Path], tmp_path: Path
) -> None:
    db, index, pub = published
    with ReplicaIndex(pub, check_every_s=0.2).open() as replica:
        _commit_and_publish(db, index, tmp_path, [5], pub)
        wait_for_sync(lambda: _ids(replica, word(5)) == [paper_id(5)], 3)


class _BlockingReader:
    """The database, with its first read held until released (a search in flight)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.url = db.url
        self.entered = threading.Event()
        self.release = threading.Event()

    def read_blocking(self, fn: Callable[[Any], T]) -> T:
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(10)
        return self.db.read_blocking(fn)

    async def read(self, fn: Callable[[Any], T]) -> T:
        raise NotImplementedError


def test_a_search_in_flight_keeps_its_generation_open_until_it_is_done(
    published: tuple[Database, SearchIndex, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db, index, pub = published
    caplog.set_level(logging.DEBUG, logger="search.replica")
    with ReplicaIndex(pub).open(follow=False) as replica:
        reader = _BlockingReader(db)
        results: list[Any] = []
        # related() reads the paper's text first, then searches: a switch in between must not close its index
        t = threading.Thread(target=lambda: results.append(replica.related(paper_id(0), db=reader)))
        t.start()
        assert reader.entered.wait(10)
        _commit_and_publish(db, index, tmp_path, [6], pub)
        assert replica.refresh()
        assert "closed index generation 00000001" not in caplog.text  # still in use
        reader.release.set()
        t.join(10)
        assert results[0].ok, results[0].error
        assert {h.id for h in results[0].hits} == {paper_id(1), paper_id(2)}  # generation 1: no paper 6
        assert "closed index generation 00000001" in caplog.text
        assert paper_id(6) in {h.id for h in replica.related(paper_id(0), db=db).hits}


def _copy_generation(pub: Path, name: str, new: str, damage: Callable[[Path], None]) -> None:
    src, dst = pub / GENERATIONS / name, pub / GENERATIONS / new
    shutil.copytree(src, dst)
    manifest = json.loads((dst / MANIFEST).read_text())
    manifest["name"] = new
    (dst / MANIFEST).write_text(json.dumps(manifest))
    damage(dst)


def _point(pub: Path, text: bytes) -> None:
    (pub / "CURRENT.new").write_bytes(text)
    os.replace(pub / "CURRENT.new", pub / CURRENT)


def test_what_is_not_whole_is_refused_once_with_a_warning_and_the_last_good_one_serves_on(
    published: tuple[Database, SearchIndex, Path], caplog: pytest.LogCaptureFixture
) -> None:
    _db, _index, pub = published
    caplog.set_level(logging.INFO, logger="search.replica")
    with ReplicaIndex(pub).open(follow=False) as replica:

        def truncate(gen: Path) -> None:
            victim = next((gen / "whoosh").glob("*.trm"))
            victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])

        def other_schema(gen: Path) -> None:
            (gen / "coolstove-index.json").write_text(json.dumps({"schema": 1}).ljust(13))

        def wrong_count(gen: Path) -> None:
            manifest = json.loads((gen / MANIFEST).read_text())
            manifest["documents"] = 99
            (gen / MANIFEST).write_text(json.dumps(manifest))

        def lost_segment(gen: Path) -> None:
            manifest = json.loads((gen / MANIFEST).read_text())
            for rel in manifest["files"]:
                if rel.endswith(".pst"):
                    (gen / rel).unlink()
            manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.endswith(".pst")}
            (gen / MANIFEST).write_text(json.dumps(manifest))

        cases: list[tuple[bytes, str]] = [
            (b"garbage\x00\xff", "does not name a generation"),
            (b"00000077\n", "no coolstove-publish.json"),  # names a generation that is not there
        ]
        for n, (damage, why) in enumerate([(truncate, "incomplete"), (other_schema, "schema 1"),
                                           (wrong_count, "its manifest says 99"), (lost_segment, ".pst'")]):
            _copy_generation(pub, "00000001", f"0000001{n}", damage)
            cases.append((f"0000001{n}\n".encode(), why))
        for text, why in cases:
            caplog.clear()
            _point(pub, text)
            assert replica.refresh() is False
            assert replica.refresh() is False
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            # once, not every second
            assert len(warnings) == 1, (text, [r.getMessage() for r in caplog.records])
            assert why in warnings[0].getMessage(), warnings[0].getMessage()
            assert "still serving 00000001" in warnings[0].getMessage() or b"garbage" in text
            assert replica.serving is not None
            assert replica.serving.name == "00000001"
            assert _ids(replica, word(2)) == [paper_id(2)]
        caplog.clear()
        _point(pub, b"00000001\n")
        assert replica.refresh() is False  # back to what it serves: nothing to do, nothing logged
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_nothing_published_yet_is_said_in_the_result_until_the_first_generation(tmp_path: Path) -> None:
    db, index = filled_index(tmp_path, range(2))
    pub = tmp_path / "pub"
    try:
        with ReplicaIndex(pub).open(follow=False) as replica:
            assert replica.serving is None
            result = replica.search(word(1))
            assert not result.ok
            assert "no search index has been published" in (result.error or "")
            assert not pub.exists()  # the replica made nothing
            publish(index.index_dir, pub)
            assert replica.refresh()
            assert _ids(replica, word(1)) == [paper_id(1)]
    finally:
        index.close()
        db.close()


def test_an_index_folder_is_read_in_place_and_followed_through_whoosh(tmp_path: Path) -> None:
    db, index = filled_index(tmp_path, range(2))
    try:
        with ReplicaIndex(index.index_dir).open(follow=False) as replica:
            assert replica.serving is not None
            assert replica.serving.name == LIVE
            add_papers(db, tmp_path, [7])
            index.check(db)
            wait_for_sync(lambda: _ids(replica, word(7)) == [paper_id(7)], 5, interval=0.1)
            assert replica.refresh() is False
    finally:
        index.close()
        db.close()


def test_the_replica_writes_nothing_in_the_folder_it_reads(published: tuple[Database, SearchIndex, Path],
                                                            tmp_path: Path) -> None:
    db, index, pub = published
    _commit_and_publish(db, index, tmp_path, [8], pub)
    before = tree(pub)
    with ReplicaIndex(pub).open(follow=False) as replica:
        assert _ids(replica, word(8)) == [paper_id(8)]
        replica.related(paper_id(8), db=db)
        _point(pub, b"nonsense")
        replica.refresh()
        _point(pub, b"00000002\n")
        replica.refresh()
    after = tree(pub)
    before.pop("CURRENT"), after.pop("CURRENT")  # replaced by the test itself
    before.pop("."), after.pop(".")
    assert after == before


@pytest.mark.skipif(not can_switch_user(), reason="needs root and setpriv to read as another user")
def test_another_user_who_cannot_write_the_folder_reads_and_follows_it() -> None:
    """The web tier's user: the published folder is the daemon's, and read-only to it."""
    work = open_dir("coolstove-replica-")
    try:
        db, index = filled_index(work, range(3))
        pub = work / "pub"
        publish(index.index_dir, pub)
        (work / "index").chmod(0o700)  # the daemon's own index: not readable by the web tier
        script = (
            "import json, sys, time\n"
            "from pathlib import Path\n"
            "from search.replica import ReplicaIndex\n"
            "r = ReplicaIndex(Path(sys.argv[1]), check_every_s=0.1).open()\n"
            "print(json.dumps([h.id for h in r.search(sys.argv[2]).hits]), flush=True)\n"
            "sys.stdin.readline()\n"
            "deadline = time.monotonic() + 10\n"
            "while time.monotonic() < deadline and not r.search(sys.argv[3]).hits:\n"
            "    time.sleep(0.05)\n"
            "print(json.dumps([h.id for h in r.search(sys.argv[3]).hits]), r.serving.name, flush=True)\n"
            "r.close()\n"
        )
        proc = subprocess.Popen(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
             sys.executable, "-c", script, str(pub), word(1), word(9)],
            cwd=work, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert proc.stdout is not None
        assert proc.stdin is not None
        assert json.loads(proc.stdout.readline()) == [paper_id(1)]
        name = _commit_and_publish(db, index, work, [9], pub)
        proc.stdin.write("\n")
        proc.stdin.flush()
        ids, served = proc.stdout.readline().split()
        assert json.loads(ids) == [paper_id(9)]
        assert served == name
        _out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "Permission denied" not in err, err
        assert "Traceback" not in err, err
        assert read_manifest(pub / GENERATIONS / name).documents == 4
        index.close()
        db.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
