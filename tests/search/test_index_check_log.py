"""The check at start logs counts, not ids; the report keeps the ids for ``coolstove papers check``.

After a full snapshot import the daemon's start-up check used to log the whole
report, every missing id in one line (tens of megabytes for two million
papers). Here 150 real snapshot lines are imported while the daemon is off, as
``coolstove papers import`` without the index hook does, and the daemon starts.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from search_data import PAPERS, SNAPSHOT_LINES, insert_papers

import daemon.papers
from core.clicontext import CliContext
from core.config import Config, load_config
from core.database import Database
from daemon.cli_papers import papers as papers_group
from daemon.papers import Papers
from feeds.importer import import_snapshot
from feeds.migrate import upgrade
from search.index import SearchIndex

SNAPSHOT_PAPERS = 150


@pytest.fixture
def imported_while_off(tmp_path: Path, shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """An index of six papers, then a database with 150 more that the index has not seen."""
    snapshot = shared_dir / "arxiv-samples" / SNAPSHOT_LINES
    if not snapshot.is_file():
        pytest.skip("../shared/arxiv-samples is absent")
    monkeypatch.setattr(daemon.papers, "INDEX_WATCH_S", 0.05)
    cfg = load_config(env={
        "COOLSTOVE_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "COOLSTOVE_PAPERS__CATEGORIES": "cs.LG",
        "COOLSTOVE_PAPERS__RSS_URL": "http://127.0.0.1:9/atom/{category}",  # nothing listens: the feed
        "COOLSTOVE_PAPERS__API_URL": "http://127.0.0.1:9/api",              # fails and backs off
        "COOLSTOVE_PAPERS__OAI_URL": "http://127.0.0.1:9/oai",
    })
    cfg.storage.data_dir.mkdir(parents=True)
    upgrade(cfg.papers_db_url)
    db = Database(cfg.papers_db_url)
    try:
        insert_papers(db, PAPERS)
        with SearchIndex(cfg.storage.index_dir).open() as ix:
            assert ix.reindex(db) == len(PAPERS)
        assert import_snapshot(db, snapshot).papers == SNAPSHOT_PAPERS
    finally:
        db.close()
    return cfg


async def test_the_check_at_start_logs_counts_not_the_missing_ids(
    imported_while_off: Config, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    part = Papers(imported_while_off)
    await part.open()
    try:
        check = next(t for t in part._tasks if t.get_name() == "index-check")
        await asyncio.wait_for(check, 30)
        assert check.exception() is None
        assert part.index.doc_count() == len(PAPERS) + SNAPSHOT_PAPERS  # repaired
    finally:
        await part.close()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith(("daemon.papers", "search."))]
    about_the_check = [ln for ln in lines if "search index" in ln and ("checked" in ln or "repaired" in ln)]
    assert about_the_check, lines
    for line in about_the_check:
        assert "150 missing" in line
        assert len(line) < 200, line
    assert not [ln for ln in lines if "0704.0001" in ln]  # no id in any line of theirs


def test_the_report_keeps_the_ids_and_the_cli_prints_ten(imported_while_off: Config) -> None:
    db = Database(imported_while_off.papers_db_url)
    try:
        with SearchIndex(imported_while_off.storage.index_dir).open(owner=False) as ix:
            report = ix.check(db, repair=False)
    finally:
        db.close()
    assert len(report.missing) == SNAPSHOT_PAPERS
    assert report.missing[0] == "0704.0001"
    assert str(report) == (
        "156 in the database, 6 in the index, 150 missing, 0 stale, 0 extra (not repaired)"
    )
    ctx = CliContext(None)
    ctx._config = imported_while_off
    r = CliRunner().invoke(papers_group, ["check", "--no-repair"], obj=ctx)
    assert r.exit_code == 1
    assert "database: 156 papers; index: 6" in r.output
    (line,) = [ln for ln in r.output.splitlines() if "missing from the index" in ln]
    assert line.startswith("150 missing from the index: 0704.0001, 0704.0002, ")
    assert line.endswith(" … (+140)")
    assert line.count("0704.") == 10
