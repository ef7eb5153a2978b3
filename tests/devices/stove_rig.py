"""A stove on simulated relays, in a temporary data folder."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from core.config import Config, SimulatedBurner, StorageConfig
from core.sqlitedb import SqliteDatabase
from daemon.http import Guard, make_app
from devices.api import make_router, refusal_auditor
from devices.audit import AuditLog
from devices.relay import SimulatedRelay
from devices.stove import Stove
from devices.timers import Timers


def make_cfg(tmp_path: Path, **burner_kw: object) -> Config:
    burners = (
        SimulatedBurner(name="left", pulse_s=0.3).model_copy(update=burner_kw),
        SimulatedBurner(name="right", pulse_s=0.3).model_copy(update=burner_kw),
    )
    return Config(burners=burners, storage=StorageConfig(data_dir=tmp_path))


class Rig:
    def __init__(self, cfg: Config, zone: dt.tzinfo | None = None) -> None:
        self.cfg = cfg
        self.db = SqliteDatabase(cfg.storage.stove_db)
        self.db.start()
        self.relays = {b.name: SimulatedRelay(b.name) for b in cfg.burners}
        self.stove = Stove(cfg, AuditLog(self.db), relays=dict(self.relays))
        self.timers = Timers(self.db, self.stove, zone=zone)

    async def start(self) -> None:
        await self.stove.start()
        await self.timers.start()

    async def stop(self) -> None:
        await self.timers.shutdown()
        await self.stove.shutdown()
        self.db.close()


TOKEN = "test-token-123"


@contextlib.asynccontextmanager
async def api_client(rig: Rig, *, auth: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """The stove API as the daemon serves it (behind its Guard), through httpx's ASGI transport."""
    app = Guard(
        make_app(rig.cfg, [make_router(rig.stove, TOKEN)], refusal_hooks=[refusal_auditor(rig.stove)]),
        hosts={"test"},
    )
    headers = {"Authorization": f"Bearer {TOKEN}"} if auth else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                 headers=headers) as client:
        yield client
