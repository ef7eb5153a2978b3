"""deploy/coolstove-replica-sync.sh, run for real (rsync between two local folders): what the web
machines' timer does. A copy is whole before CURRENT names it, and unchanged segments are links."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from web_tier_kit import ROOT, add_papers, filled_index, paper_id, word

from core.database import Database
from search.index import SearchIndex
from search.publish import CURRENT, GENERATIONS, publish, read_current, read_manifest
from search.replica import ReplicaIndex

SYNC = ROOT / "deploy" / "coolstove-replica-sync.sh"

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[tuple[Database, SearchIndex, Path]]:
    db, index = filled_index(tmp_path, range(3))
    pub = tmp_path / "pub"
    publish(index.index_dir, pub)
    yield db, index, pub
    index.close()
    db.close()


def _sync(pub: Path, replica: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SYNC), f"{pub}/", str(replica)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **env})


def _next(db: Database, index: SearchIndex, workdir: Path, pub: Path, n: int) -> str:
    add_papers(db, workdir, [n])
    index.check(db)
    return publish(index.index_dir, pub)


def test_the_sync_copies_a_whole_generation_then_names_it_and_links_what_did_not_change(
    writer: tuple[Database, SearchIndex, Path], tmp_path: Path
) -> None:
    db, index, pub = writer
    replica = tmp_path / "replica"
    r = _sync(pub, replica)
    assert r.returncode == 0, r.stderr
    assert read_current(replica) == "00000001"
    first = read_manifest(replica / GENERATIONS / "00000001")  # every file there, at its size
    assert first.documents == 3
    with ReplicaIndex(replica).open(follow=False) as reader:
        assert [h.id for h in reader.search(word(2)).hits] == [paper_id(2)]
        name = _next(db, index, tmp_path, pub, 3)
        assert _sync(pub, replica).returncode == 0
        assert read_current(replica) == name
        second = read_manifest(replica / GENERATIONS / name)
        assert second.documents == 4
        same = [f for f in first.files if f in second.files and f.startswith("whoosh/papers_")]
        assert same  # the first segment is in both: one file on disk, not two
        for rel in same:
            a, b = replica / GENERATIONS / "00000001" / rel, replica / GENERATIONS / name / rel
            assert a.stat().st_ino == b.stat().st_ino
        assert reader.refresh()
        assert [h.id for h in reader.search(word(3)).hits] == [paper_id(3)]
        assert _sync(pub, replica).returncode == 0  # nothing new: nothing changes
        assert read_current(replica) == name


def test_a_source_current_that_names_nothing_changes_nothing_here(
    writer: tuple[Database, SearchIndex, Path], tmp_path: Path
) -> None:
    _db, _index, pub = writer
    replica = tmp_path / "replica"
    assert _sync(pub, replica).returncode == 0
    (pub / CURRENT).write_bytes(b"../../etc\n")
    r = _sync(pub, replica)
    assert r.returncode == 1
    assert "names no generation" in r.stderr
    assert read_current(replica) == "00000001"
    assert sorted(p.name for p in (replica / GENERATIONS).iterdir()) == ["00000001"]


def test_old_copies_go_after_keep_newer_ones_and_the_grace_period(
    writer: tuple[Database, SearchIndex, Path], tmp_path: Path
) -> None:
    db, index, pub = writer
    replica = tmp_path / "replica"
    names = ["00000001"]
    assert _sync(pub, replica).returncode == 0
    for n in (3, 4):
        names.append(_next(db, index, tmp_path, pub, n))
        assert _sync(pub, replica, KEEP="2").returncode == 0
    assert sorted(p.name for p in (replica / GENERATIONS).iterdir()) == names  # all within the grace
    names.append(_next(db, index, tmp_path, pub, 5))
    r = _sync(pub, replica, KEEP="2", GRACE_MIN="0")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (replica / GENERATIONS).iterdir()) == names[-2:]
    assert read_current(replica) == names[-1]


def test_it_refuses_a_relative_destination(writer: tuple[Database, SearchIndex, Path]) -> None:
    _db, _index, pub = writer
    r = subprocess.run(["bash", str(SYNC), f"{pub}/", "relative/dir"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "absolute" in r.stderr
