"""The audit log: rate-limited refusals that still account for every one, and retention."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from stove_rig import Rig, api_client, make_cfg

from core.config import StorageConfig, load_config
from core.errors import ConfigError
from core.sqlitedb import SqliteDatabase, to_db_time
from devices.audit import AuditLog


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqliteDatabase]:
    d = SqliteDatabase(tmp_path / "audit.db")
    d.start()
    yield d
    d.close()


def counted(entries: list[object]) -> int:
    """Refusals a set of rows accounts for: one per row, plus N for each "N more refused" summary."""
    total = 0
    for e in entries:
        m = re.match(r"(\d+) more refused", e.detail or "")  # type: ignore[attr-defined]
        total += int(m.group(1)) if m else 1
    return total


async def test_a_refusal_flood_becomes_a_few_rows_and_one_count(db: SqliteDatabase) -> None:
    audit = AuditLog(db, refusal_rows=5, refusal_window_s=3600)
    for i in range(1000):
        await audit.refused("mqtt", "left", "cut", f"bad payload #{i}")
    rows = await audit.recent(limit=1000)
    assert len(rows) == 5, "only the first few refusals of a burst get their own rows"
    assert audit.pending_refusals() == 995
    await audit.close()  # the window ends: the summary is written
    rows = await audit.recent(limit=1000)
    assert len(rows) == 6
    summary = rows[0]
    assert summary.result == "rejected"
    assert summary.source == "mqtt"
    assert summary.detail is not None
    assert summary.detail.startswith("995 more refused cut")
    assert "bad payload #999" in summary.detail, "the summary says what the last one was"
    assert counted(rows) == 1000, "every refusal is accounted for"


async def test_the_summary_is_written_when_the_window_ends(db: SqliteDatabase) -> None:
    audit = AuditLog(db, refusal_rows=2, refusal_window_s=0.2)
    for _ in range(50):
        await audit.refused("http", "all", "auth", "missing or wrong bearer token")
    import asyncio

    for _ in range(100):  # the window's timer writes the summary by itself, no close() needed
        rows = await audit.recent()
        if len(rows) == 3:
            break
        await asyncio.sleep(0.05)
    assert counted(rows) == 50
    assert rows[0].detail.startswith("48 more refused auth")
    await audit.refused("http", "all", "auth", "again")  # a new window: its own row again
    assert len(await audit.recent()) == 4
    await audit.close()


async def test_kinds_are_separate_and_attacker_text_cannot_open_windows(db: SqliteDatabase) -> None:
    audit = AuditLog(db, refusal_rows=1, refusal_window_s=3600)
    await audit.refused("mqtt", "left", "cut", "a")
    await audit.refused("mqtt", "left", "cancel", "b")  # another kind: its own row
    await audit.refused("http", "left", "cut", "c")  # another source: its own row
    for i in range(500):  # made-up actions all count as one kind, "other"
        await audit.refused("mqtt", "left", f"x{i}", "\ud800 lone surrogate")
    assert len(await audit.recent(limit=1000)) == 4
    await audit.close()
    rows = await audit.recent(limit=1000)
    assert len(rows) == 5
    assert counted(rows) == 503
    assert "\\ud800" in (rows[0].detail or ""), "a lone surrogate is stored escaped, not lost"


async def test_retention_prunes_old_and_excess_rows_at_start(db: SqliteDatabase) -> None:
    AuditLog(db)  # creates the table
    now = dt.datetime.now(dt.UTC)

    def fill(c: sqlite3.Connection) -> None:
        add = ("INSERT INTO audit (ts, source, burner, action, result, detail) "
               "VALUES (?, 'cli', 'left', 'cut', 'ok', ?)")
        for i in range(50):  # old: 400 down to 351 days ago
            c.execute(add, (to_db_time(now - dt.timedelta(days=400 - i)), f"old {i}"))
        for i in range(300):  # recent: within the last hour
            c.execute(add, (to_db_time(now - dt.timedelta(seconds=300 - i)), f"new {i}"))

    await db.write(fill)
    audit = AuditLog(db, max_age_days=365, max_rows=200)
    rows = await audit.recent(limit=1000)
    assert await audit.count() == 200
    assert len(rows) == 200
    assert not any((r.detail or "").startswith("old") for r in rows)
    assert rows[0].detail == "new 299", "the newest rows stay"
    assert rows[-1].detail == "new 100", "the newest rows stay"


async def test_retention_runs_again_while_recording(db: SqliteDatabase) -> None:
    audit = AuditLog(db, max_rows=100, prune_every_s=0.0)
    for i in range(150):
        await audit.record(source="cli", burner="left", action="cut", result="ok", detail=str(i))
    await audit.close()  # waits for the background prune
    await audit.prune()
    assert await audit.count() == 100
    assert (await audit.recent(limit=1))[0].detail == "149"


def test_storage_config_retention_keys(tmp_path: Path) -> None:
    assert (StorageConfig().audit_max_age_days, StorageConfig().audit_max_rows) == (365.0, 100_000)
    f = tmp_path / "c.toml"
    f.write_text(f'[storage]\ndata_dir = "{tmp_path}"\naudit_max_age_days = 30\naudit_max_rows = 5000\n')
    cfg = load_config(f, env={})
    assert (cfg.storage.audit_max_age_days, cfg.storage.audit_max_rows) == (30.0, 5000)
    cfg = load_config(f, env={"COOLSTOVE_STORAGE__AUDIT_MAX_ROWS": "1000"})
    assert cfg.storage.audit_max_rows == 1000
    for bad in ("audit_max_age_days = 0", "audit_max_age_days = -1", "audit_max_rows = 10",
                "audit_max_age_days = inf"):
        f.write_text(f"[storage]\n{bad}\n")
        with pytest.raises(ConfigError, match="audit_max"):
            load_config(f, env={})


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Rig]]:
    rig = Rig(make_cfg(tmp_path))
    rig.stove.audit = AuditLog(rig.db, refusal_window_s=3600)  # one window for the whole test
    await rig.start()
    async with api_client(rig, auth=False) as client:
        yield client, rig
    await rig.stop()


async def test_a_thousand_bad_tokens_leave_a_handful_of_rows(api: tuple[httpx.AsyncClient, Rig]) -> None:
    client, rig = api
    for i in range(1000):
        r = await client.post("/api/stove/cut", json={"burner": "left"},
                              headers={"Authorization": f"Bearer wrong-{i}"})
        assert r.status_code == 401
    assert rig.relays["left"].history == []
    await rig.stove.audit.close()
    rows = await rig.stove.audit.recent(limit=1000)
    assert len(rows) <= 6, [r.detail for r in rows]
    assert all(r.action == "auth" and r.result == "rejected" for r in rows)
    assert any((r.detail or "").startswith("995 more refused auth") for r in rows)
    assert counted(rows) == 1000
    assert not any("wrong-" in (r.detail or "") for r in rows), "the given token is never stored"
