"""What another process can see of the writes: the write generation every paper write bumps and stamps,
runs whose process died marked aborted, and an interrupted import handing the index what it never did."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from arxiv_replay import FIXTURES, fixture
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.database import Database
from feeds import store
from feeds.importer import import_snapshot
from feeds.models import CrawlRun, Paper
from feeds.parse_api import parse_api
from feeds.parse_rss import parse_feed
from feeds.snapshot import record_from_json
from search.index import SearchIndex

DAY1 = parse_feed(fixture("rss_cs.LG_2024-01-15.xml"), "cs.LG")
DETAILS = parse_api(fixture("api_2024-01-15_details.xml")).records


def stamps(s: Session) -> dict[str, int | None]:
    return {p.id: p.generation for p in s.scalars(select(Paper))}


def test_every_paper_write_bumps_the_generation_and_stamps_what_it_changed(db: Database) -> None:
    assert db.read_blocking(store.current_generation) == 0

    def day(s: Session) -> list[str]:
        ids = store.upsert_papers(s, DAY1.records, "rss")
        store.upsert_announcements(s, DAY1.announcements)  # the same transaction: one generation
        return ids

    ids = db.write_blocking(day)
    assert db.read_blocking(store.current_generation) == 1
    assert set(db.read_blocking(stamps).values()) == {1}
    db.write_blocking(lambda s: store.upsert_papers(s, DETAILS[:2], "api"))
    assert db.read_blocking(store.current_generation) == 2
    after = db.read_blocking(stamps)
    assert {pid for pid, g in after.items() if g == 2} == {r.id for r in DETAILS[:2]}
    # a reader pages through what changed after a generation, oldest first, up to a bound
    top = db.read_blocking(store.current_generation)
    first = db.read_blocking(lambda s: store.changed_since(s, (0, None), top, limit=3))
    rest = db.read_blocking(lambda s: store.changed_since(s, first[-1], top))
    assert [pid for _, pid in first + rest] == sorted(ids, key=lambda i: (after[i], i))
    assert db.read_blocking(lambda s: store.changed_since(s, (1, None), top)) == [
        (2, pid) for pid in sorted(r.id for r in DETAILS[:2])
    ]
    assert db.read_blocking(lambda s: store.changed_since(s, (0, None), 1)) == [
        (1, pid) for pid in sorted(set(ids) - {r.id for r in DETAILS[:2]})
    ]


def test_an_announcement_alone_stamps_its_paper(db: Database) -> None:
    """A known paper newly listed changes its index document (its announce date) without a paper write."""
    rec = record_from_json(json.loads((FIXTURES / "snapshot_small.jsonl").read_text().splitlines()[0]))
    db.write_blocking(lambda s: store.upsert_papers(s, [rec], "snapshot"))
    ann = type(DAY1.announcements[0])(rec.id, "hep-ph", DAY1.announcements[0].date, "new", 0)
    db.write_blocking(lambda s: store.upsert_announcements(s, [ann]))
    assert db.read_blocking(stamps)[rec.id] == 2


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(10)
    return proc.pid


def test_runs_whose_process_is_gone_are_marked_aborted(sqlite_db: Database) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:

        def runs(s: Session) -> tuple[int, int, int, int]:
            mine = store.start_run(s, "oai", "cs.LG 2024-01-01..")
            dead = store.start_run(s, "snapshot", "a.jsonl")
            s.get(CrawlRun, dead).owner = store.process_tag(_dead_pid())
            alive = store.start_run(s, "oai", "math 2024-01-01..")
            s.get(CrawlRun, alive).owner = store.process_tag(sleeper.pid)
            legacy = store.start_run(s, "oai", "before 0003")
            s.get(CrawlRun, legacy).owner = None
            return mine, dead, alive, legacy

        mine, dead, alive, legacy = sqlite_db.write_blocking(runs)
        assert sorted(sqlite_db.write_blocking(store.abort_stale_runs)) == sorted([dead, legacy])
        status = sqlite_db.read_blocking(lambda s: {r.id: r.status for r in s.scalars(select(CrawlRun))})
        assert status == {mine: "running", dead: "aborted", alive: "running", legacy: "aborted"}
        finished = sqlite_db.read_blocking(lambda s: s.get(CrawlRun, dead).finished)
        assert finished is not None
    finally:
        sleeper.kill()
        sleeper.wait(10)


def test_a_live_owner_whose_proc_entry_is_hidden_keeps_its_run(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the unit's ProtectProc=invisible the daemon cannot read another user's /proc/<pid>/stat
    (a `sudo coolstove papers import`): that process is alive, so its run is not aborted."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:

        def run(s: Session) -> int:
            alive = store.start_run(s, "snapshot", "a.jsonl")
            s.get(CrawlRun, alive).owner = store.process_tag(sleeper.pid)
            return alive

        alive = sqlite_db.write_blocking(run)
        real = store._start_ticks
        monkeypatch.setattr(store, "_start_ticks", lambda pid: "" if pid == sleeper.pid else real(pid))
        assert sqlite_db.write_blocking(store.abort_stale_runs) == []
        assert sqlite_db.read_blocking(lambda s: s.get(CrawlRun, alive).status) == "running"
    finally:
        sleeper.kill()
        sleeper.wait(10)


def synthetic(path: Path, n: int) -> Path:
    template = [json.loads(line) for line in (FIXTURES / "snapshot_small.jsonl").read_text().splitlines()]
    with path.open("w") as fh:
        for i in range(n):
            obj = {**template[i % len(template)], "id": f"2001.{i + 1:05d}", "title": f"Imported paper {i}"}
            fh.write(json.dumps(obj) + "\n")
    return path


class Killed(BaseException):
    """Stands for the SIGKILL that lands after a batch committed and before its index update."""


def test_a_resumed_import_hands_the_index_what_the_interrupted_run_never_did(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """The issue's 2,000 papers: the CLI owned the index, the process died between a commit and the
    index update, and the re-run resumed after that batch. Now the re-run indexes it first."""
    path = synthetic(tmp_path / "s.jsonl", 30)
    index = SearchIndex(tmp_path / "index").open()
    calls: list[list[str]] = []
    try:

        def hook(ids: list[str], *, die_at: int | None = None) -> None:
            calls.append(ids)
            if die_at is not None and len(calls) == die_at:
                raise Killed
            asyncio.run(index.update(sqlite_db, ids))

        with pytest.raises(Killed):
            import_snapshot(sqlite_db, path, batch_size=10, on_commit=lambda ids: hook(ids, die_at=2))
        assert index.check(sqlite_db, repair=False).missing == [f"2001.{i:05d}" for i in range(11, 21)]
        calls.clear()
        result = import_snapshot(sqlite_db, path, batch_size=10, on_commit=hook)
        assert result.resumed_from == 20
        assert calls[0] == [f"2001.{i:05d}" for i in range(11, 21)]  # before anything new
        report = index.check(sqlite_db, repair=False)
        assert report.clean, report
        assert report.in_index == 30
    finally:
        index.close()


def test_an_import_with_no_index_owes_the_index_nothing_on_resume(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """Without ``on_commit`` (the daemon indexes by generation), a resumed run hands nothing back."""
    path = synthetic(tmp_path / "s.jsonl", 20)

    def die(ids: list[str]) -> None:
        raise Killed

    with pytest.raises(Killed):
        import_snapshot(sqlite_db, path, batch_size=10, on_commit=die)

    def forget_hook(s: Session) -> None:  # as a run with no hook would have written it
        run = s.scalars(select(CrawlRun)).one()
        state = json.loads(run.detail or "{}")
        run.detail = json.dumps({**state, "notified": state["generation"]})

    sqlite_db.write_blocking(forget_hook)
    calls: list[list[str]] = []
    import_snapshot(sqlite_db, path, batch_size=10, on_commit=calls.append)
    assert calls == [[f"2001.{i:05d}" for i in range(11, 21)]]
