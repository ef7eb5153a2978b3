"""The snapshot import: idempotent, resumable, and whole batches only, even under SIGKILL."""

from __future__ import annotations

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from arxiv_replay import FIXTURES
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.database import Database
from core.errors import InputError
from feeds import store
from feeds.importer import import_snapshot
from feeds.migrate import upgrade
from feeds.models import CrawlRun, Paper, Version

ROOT = Path(__file__).resolve().parents[2]


def contents(s: Session) -> dict[str, Any]:
    """Papers and versions without the fetch time (which differs between runs)."""
    papers = {
        p.id: (
            p.title,
            p.title_tex,
            p.abstract,
            tuple(p.authors),
            p.categories,
            p.latest_version,
            p.comments,
            p.doi,
            p.journal_ref,
            p.report_no,
            p.license,
            p.source,
        )
        for p in s.scalars(select(Paper))
    }
    versions = sorted((v.paper_id, v.version, str(v.created)) for v in s.scalars(select(Version)))
    return {"papers": papers, "versions": versions}


def synthetic_snapshot(path: Path, n: int) -> Path:
    """``n`` distinct snapshot lines made from the fixture's records (ids 2001.00001 ...)."""
    template = [json.loads(line) for line in (FIXTURES / "snapshot_small.jsonl").read_text().splitlines()]
    with path.open("w") as fh:
        for i in range(n):
            obj = dict(template[i % len(template)])
            obj["id"] = f"2001.{i + 1:05d}"
            obj["title"] = f'Paper {i} on Schr\\"odinger operators'
            obj["categories"] = "cs.LG stat.ML"
            fh.write(json.dumps(obj) + "\n")
    return path


def test_import_then_reimport_changes_nothing(sqlite_db: Database) -> None:
    result = import_snapshot(sqlite_db, FIXTURES / "snapshot_small.jsonl", batch_size=3)
    assert (result.papers, result.lines, result.bad) == (4, 4, 0)
    first = sqlite_db.read_blocking(contents)
    assert (
        first["papers"]["0704.0001"][0]
        == "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    )
    assert first["papers"]["0704.0001"][3] == ("C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C.-P. Yuan")
    again = import_snapshot(sqlite_db, FIXTURES / "snapshot_small.jsonl", batch_size=2)
    assert again.resumed_from == 0
    assert again.papers == 4
    assert sqlite_db.read_blocking(contents) == first
    statuses = sqlite_db.read_blocking(lambda s: [r.status for r in s.scalars(select(CrawlRun))])
    assert statuses == ["ok", "ok"]


def test_bad_lines_are_skipped_and_reported(sqlite_db: Database) -> None:
    result = import_snapshot(sqlite_db, FIXTURES / "snapshot_bad_lines.jsonl")
    assert result.papers == 2
    assert result.bad == 7
    assert [b.line_no for b in result.bad_samples] == [2, 3, 4, 5, 6, 7, 8]
    assert sqlite_db.read_blocking(lambda s: sorted(s.scalars(select(Paper.id)))) == [
        "1406.2661",
        "2401.06769",
    ]


def test_too_many_bad_lines_stops_with_whole_batches_only(sqlite_db: Database) -> None:
    with pytest.raises(InputError, match="more than 2 bad lines"):
        import_snapshot(sqlite_db, FIXTURES / "snapshot_bad_lines.jsonl", batch_size=1, max_bad=2)
    assert sqlite_db.read_blocking(lambda s: sorted(s.scalars(select(Paper.id)))) == ["1406.2661"]
    run = sqlite_db.read_blocking(lambda s: s.scalars(select(CrawlRun)).one())
    assert run.status == "error"
    assert json.loads(run.detail)["line"] == 1


def test_not_a_snapshot_at_all(sqlite_db: Database, tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(os.urandom(50_000))
    with pytest.raises(InputError, match=r"more than 100 bad lines|is this arXiv"):
        import_snapshot(sqlite_db, path)
    assert sqlite_db.read_blocking(lambda s: s.scalar(select(func.count()).select_from(Paper))) == 0


def test_gzipped_snapshot(sqlite_db: Database, tmp_path: Path) -> None:
    gz = tmp_path / "snapshot.jsonl.gz"
    gz.write_bytes(gzip.compress((FIXTURES / "snapshot_small.jsonl").read_bytes()))
    positions: list[int] = []
    result = import_snapshot(sqlite_db, gz, batch_size=2, progress=lambda pos, n: positions.append(pos))
    assert result.papers == 4
    assert positions[-1] == gz.stat().st_size


def test_a_cut_short_import_resumes_where_it_committed(sqlite_db: Database, tmp_path: Path) -> None:
    path = synthetic_snapshot(tmp_path / "s.jsonl", 10)
    import_snapshot(sqlite_db, path, batch_size=4)
    reference = sqlite_db.read_blocking(contents)

    # make the last run look like a crash after line 4
    def crash(s: Session) -> None:
        run = s.scalars(select(CrawlRun).order_by(CrawlRun.id.desc()).limit(1)).one()
        run.status, run.finished = "running", None
        run.detail = json.dumps({**json.loads(run.detail), "line": 4})

    sqlite_db.write_blocking(crash)
    result = import_snapshot(sqlite_db, path, batch_size=4)
    assert (result.resumed_from, result.papers) == (4, 6)
    assert sqlite_db.read_blocking(contents) == reference
    # a changed file is never resumed
    path.write_text(path.read_text() + "\n")
    sqlite_db.write_blocking(crash)
    assert import_snapshot(sqlite_db, path, resume=True).resumed_from == 0


def _count(db_path: Path, sql: str) -> Any:
    with sqlite3.connect(db_path, timeout=10) as conn:
        return conn.execute(sql).fetchone()


@pytest.mark.slow
def test_sigkill_midway_then_rerun_gives_the_same_database(tmp_path: Path) -> None:
    n = 20_000
    path = synthetic_snapshot(tmp_path / "big.jsonl", n)
    killed_db = tmp_path / "killed.db"
    config = tmp_path / "coolstove.toml"
    config.write_text(
        f'[storage]\ndata_dir = "{tmp_path}"\n[papers]\ndatabase_url = "sqlite:///{killed_db}"\n'
    )
    runner = (
        "import sys; from daemon.cli import cli; from feeds.cli import papers; cli.add_command(papers); "
        "cli.main(sys.argv[1:], prog_name='coolstove')"
    )
    cmd = [
        sys.executable,
        "-c",
        runner,
        "--config",
        str(config),
        "papers",
        "import",
        str(path),
        "--batch-size",
        "100",
        "-q",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if killed_db.exists():
                try:
                    done = _count(killed_db, "SELECT coalesce(max(papers), 0) FROM crawl_runs")[0]
                except sqlite3.OperationalError:  # tables not created yet
                    done = 0
                if done >= 2000:
                    break
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    status, detail, recorded = _count(killed_db, "SELECT status, detail, papers FROM crawl_runs")
    assert status == "running"  # it really died midway
    committed_line = json.loads(detail)["line"]
    papers, versions = _count(
        killed_db, "SELECT (SELECT count(*) FROM papers), (SELECT count(*) FROM versions)"
    )
    assert 0 < papers < n
    assert papers == committed_line == recorded  # whole batches only, and the progress says exactly which
    assert papers % 100 == 0
    orphans = _count(
        killed_db,
        "SELECT count(*) FROM papers p WHERE NOT EXISTS "
        "(SELECT 1 FROM versions v WHERE v.paper_id = p.id AND v.version = p.latest_version)",
    )
    assert orphans == (0,)

    killed_url = f"sqlite:///{killed_db}"
    with Database(killed_url) as db:
        result = import_snapshot(db, path, batch_size=1000)
        assert result.resumed_from == committed_line
        assert result.papers == n - committed_line
        runs = db.read_blocking(lambda s: list(s.scalars(select(CrawlRun.status).order_by(CrawlRun.id))))
        assert runs == ["aborted", "ok"]  # the killed run no longer says it is running
        after = db.read_blocking(contents)
    clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
    upgrade(clean_url)
    with Database(clean_url) as db:
        import_snapshot(db, path, batch_size=5000)
        reference = db.read_blocking(contents)
    assert len(after["papers"]) == n
    assert after == reference
    assert versions <= len(reference["versions"])


def test_store_ids_needing_details_ignores_snapshot(sqlite_db: Database) -> None:
    import_snapshot(sqlite_db, FIXTURES / "snapshot_small.jsonl")
    assert sqlite_db.read_blocking(lambda s: store.ids_needing_details(s)) == []


def test_a_truncated_gzip_is_a_clear_error_after_whole_batches(sqlite_db: Database, tmp_path: Path) -> None:
    src = synthetic_snapshot(tmp_path / "s.jsonl", 3000)
    packed = gzip.compress(src.read_bytes())
    gz = tmp_path / "cut.jsonl.gz"
    gz.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(InputError, match="cannot read past line"):
        import_snapshot(sqlite_db, gz, batch_size=500)
    n = sqlite_db.read_blocking(lambda s: s.scalar(select(func.count()).select_from(Paper)))
    assert n > 0
    assert n % 500 == 0
    run = sqlite_db.read_blocking(lambda s: s.scalars(select(CrawlRun)).one())
    assert run.status == "error"
    assert json.loads(run.detail)["line"] == n


def _lines_with(tmp_path: Path, bad: dict[int, str]) -> Path:
    """The fixture's four records as 6 lines, line ``n`` replaced by ``bad[n]`` (1-based)."""
    good = (FIXTURES / "snapshot_small.jsonl").read_text().splitlines()
    lines = [*good, *(json.dumps({**json.loads(good[i]), "id": f"2001.0000{i}"}) for i in (1, 2))]
    for n, text in bad.items():
        lines[n - 1] = text
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_lone_surrogate_costs_its_line_not_the_import(sqlite_db: Database, tmp_path: Path) -> None:
    """The issue's record: ``"\\ud800"`` in a title is valid JSON but no database can store it."""
    good = (FIXTURES / "snapshot_small.jsonl").read_text().splitlines()
    hostile = json.dumps({**json.loads(good[2]), "title": "Broken \ud800 title"})
    assert "\\ud800" in hostile  # the escape as it sits in the file
    path = _lines_with(tmp_path, {3: hostile})
    result = import_snapshot(sqlite_db, path, batch_size=4)
    assert (result.papers, result.bad, result.lines) == (5, 1, 6)
    assert result.bad_samples[0].line_no == 3
    assert "lone surrogate" in result.bad_samples[0].reason
    ids = sqlite_db.read_blocking(lambda s: set(s.scalars(select(Paper.id))))
    assert json.loads(good[2])["id"] not in ids
    assert len(ids) == 5
    run = sqlite_db.read_blocking(lambda s: s.scalars(select(CrawlRun)).one())
    assert (run.status, json.loads(run.detail)["bad"]) == ("ok", 1)
    again = import_snapshot(sqlite_db, path, batch_size=4)  # every re-run passes the same way
    assert (again.papers, again.bad) == (5, 1)


def test_a_record_the_database_refuses_is_a_bad_line_and_its_batch_is_kept(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """Whatever the error: a record that passes every check but fails in the database (here a real
    SQLite trigger refuses it) is found by halving its batch, named by line, and the rest is written."""
    path = _lines_with(tmp_path, {})
    refused = json.loads(path.read_text().splitlines()[4])["id"]

    def trigger(s: Session) -> None:
        s.connection().exec_driver_sql(
            "CREATE TRIGGER refuse BEFORE INSERT ON papers "
            f"WHEN NEW.id = '{refused}' BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"
        )

    sqlite_db.write_blocking(trigger)
    result = import_snapshot(sqlite_db, path, batch_size=6)
    assert (result.papers, result.bad) == (5, 1)
    assert result.bad_samples[0].line_no == 5
    assert "refused by the test trigger" in result.bad_samples[0].reason
    ids = sqlite_db.read_blocking(lambda s: set(s.scalars(select(Paper.id))))
    assert len(ids) == 5
    assert refused not in ids
    run = sqlite_db.read_blocking(lambda s: s.scalars(select(CrawlRun)).one())
    assert (run.status, run.papers, json.loads(run.detail)["line"]) == ("ok", 5, 6)


@pytest.mark.parametrize("damage", ["header", "stream"])
def test_an_invalid_gzip_is_an_input_error_naming_the_file(
    sqlite_db: Database, tmp_path: Path, damage: str
) -> None:
    packed = bytearray(gzip.compress((FIXTURES / "snapshot_small.jsonl").read_bytes()))
    if damage == "header":
        packed[2] = 0x63  # the compression method byte: not deflate
    else:
        packed[12:40] = bytes(28)  # zeros inside the deflate stream: zlib.error, not an OSError
    gz = tmp_path / "broken.jsonl.gz"
    gz.write_bytes(bytes(packed))
    with pytest.raises(InputError, match="not a valid gzip file") as info:
        import_snapshot(sqlite_db, gz)
    assert str(gz) in str(info.value)
    run = sqlite_db.read_blocking(lambda s: s.scalars(select(CrawlRun)).one())
    assert run.status == "error"
