"""The start-up check follows the database by write generation (issue 11): a daemon that stopped with its
index in step indexes only what changed while it was down, instead of comparing every id; any doubt about
the record (a commit it does not describe, another database, damage) falls back to the full comparison.
In-process on real SQLite, a real Whoosh index and real snapshot lines through the importer."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import pytest

import daemon.papers
from core.config import Config, load_config
from core.database import Database
from daemon.papers import Papers
from feeds.importer import import_snapshot
from feeds.migrate import upgrade
from search.index import SYNC_FILE, SearchIndex

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "search"))
from search_data import PAPERS, insert_papers

SNAPSHOT = Path(__file__).resolve().parents[1] / "fixtures" / "arxiv" / "snapshot_small.jsonl"


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setattr(daemon.papers, "INDEX_WATCH_S", 0.05)
    cfg = load_config(env={
        "COOLSTOVE_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "COOLSTOVE_PAPERS__CATEGORIES": "cs.LG",
        "COOLSTOVE_PAPERS__RSS_URL": "http://127.0.0.1:9/atom/{category}",
        "COOLSTOVE_PAPERS__API_URL": "http://127.0.0.1:9/api",
        "COOLSTOVE_PAPERS__OAI_URL": "http://127.0.0.1:9/oai",
    })
    cfg.storage.data_dir.mkdir(parents=True)
    upgrade(cfg.papers_db_url)
    db = Database(cfg.papers_db_url)
    insert_papers(db, PAPERS)
    db.close()
    return cfg


async def run_check(cfg: Config) -> Papers:
    """Open the paper side, let its check at start finish; returns it (open) and the check's log line."""
    part = Papers(cfg)
    await part.open()
    check = next(t for t in part._tasks if t.get_name() == "index-check")
    await asyncio.wait_for(check, 30)
    assert check.exception() is None
    return part


def checked_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("search index checked")]


def import_while_off(cfg: Config) -> None:
    db = Database(cfg.papers_db_url)
    try:
        assert import_snapshot(db, SNAPSHOT).papers == 4
    finally:
        db.close()


async def test_a_restart_indexes_only_what_changed_while_down(
    cfg: Config, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    part = await run_check(cfg)  # a new index: compared in full, then the generation is recorded
    try:
        assert part.index.doc_count() == len(PAPERS)
    finally:
        await part.close()
    (first,) = checked_lines(caplog)
    assert "in the database" in first  # the full comparison's report
    record = json.loads((cfg.storage.index_dir / SYNC_FILE).read_text())
    assert record["db"] == cfg.papers_db_url

    import_while_off(cfg)  # 4 papers in a later generation
    caplog.clear()
    compared: list[bool] = []
    original = SearchIndex.check
    monkeypatch.setattr(
        SearchIndex, "check", lambda self, *a, **k: compared.append(True) or original(self, *a, **k)
    )
    part = await run_check(cfg)
    try:
        assert part.index.doc_count() == len(PAPERS) + 4
        hits = part.index.search("diphoton", db=part.db)
        assert [h.id for h in hits.hits] == ["0704.0001"]
    finally:
        await part.close()
    assert compared == []  # no comparison of every id
    (line,) = checked_lines(caplog)
    assert "up to date with write generation" in line
    assert "(4 papers indexed)" in line
    after = json.loads((cfg.storage.index_dir / SYNC_FILE).read_text())
    assert after["db_generation"] > record["db_generation"]


async def test_a_commit_the_record_does_not_describe_means_a_full_comparison(
    cfg: Config, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    part = await run_check(cfg)
    await part.close()
    # another writer committed to the index after the record (a CLI reindex while the daemon was off)
    db = Database(cfg.papers_db_url)
    try:
        import_while_off(cfg)
        with SearchIndex(cfg.storage.index_dir).open() as ix:
            ix.reindex(db)
    finally:
        db.close()
    caplog.clear()
    part = await run_check(cfg)
    try:
        assert part.index.doc_count() == len(PAPERS) + 4
    finally:
        await part.close()
    (line,) = checked_lines(caplog)
    assert "in the database" in line
    assert "0 missing" in line


@pytest.mark.parametrize("damage", ["garbage", "other-db", "negative", "missing"])
async def test_a_damaged_or_foreign_record_is_not_trusted(
    cfg: Config, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    caplog.set_level(logging.INFO)
    part = await run_check(cfg)
    await part.close()
    sync = cfg.storage.index_dir / SYNC_FILE
    record = json.loads(sync.read_text())
    import_while_off(cfg)
    if damage == "garbage":
        sync.write_bytes(b"\x00{not json")
    elif damage == "other-db":
        sync.write_text(json.dumps({**record, "db": "sqlite:////elsewhere.db", "db_generation": 10**6}))
    elif damage == "negative":
        sync.write_text(json.dumps({**record, "db_generation": -1}))
    else:
        sync.unlink()
    caplog.clear()
    part = await run_check(cfg)
    try:
        assert part.index.doc_count() == len(PAPERS) + 4  # the comparison found the four
    finally:
        await part.close()
    (line,) = checked_lines(caplog)
    assert "4 missing" in line
    assert "(repaired)" in line


async def test_a_failed_batch_is_tried_again_not_skipped(
    cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(daemon.papers, "INDEX_WATCH_S", 3600)  # only this test's own looks index
    part = await run_check(cfg)
    try:
        failures = [True]
        real_update = SearchIndex.update

        async def flaky(self: SearchIndex, db: object, ids: list[str]) -> bool:
            if failures:
                failures.pop()
                return False  # what update() answers after logging a failed commit
            return await real_update(self, db, ids)  # type: ignore[arg-type]

        monkeypatch.setattr(SearchIndex, "update", flaky)
        import_while_off(cfg)
        assert await part.index_changes() == 0  # the batch failed: nothing counted, ``seen`` kept
        assert part.index.doc_count() == len(PAPERS)
        assert await part.index_changes() == 4  # the next look indexes it
        assert part.index.doc_count() == len(PAPERS) + 4
    finally:
        await part.close()
