"""The audit log: every stove command, accepted or refused, with its source and latency.

It lives in ``stove.db`` beside the timers, written through the one writer
thread, so a failing disk never blocks the event loop and a crash never leaves
half an entry.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import DateTime, Float, Integer, String, Text, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from daemon.database import Database
from daemon.errors import StorageError

__all__ = ["AuditEntry", "AuditLog"]

_LOGGER = logging.getLogger(__name__)


class _Base(DeclarativeBase):
    pass


class _Row(_Base):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    source: Mapped[str] = mapped_column(String(16))
    burner: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(16))  # ok | rejected | failed
    detail: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float | None] = mapped_column(Float)


@dataclass(frozen=True)
class AuditEntry:
    ts: dt.datetime
    source: str
    burner: str
    action: str
    result: str
    detail: str | None
    latency_ms: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts.isoformat(),
            "source": self.source,
            "burner": self.burner,
            "action": self.action,
            "result": self.result,
            "detail": self.detail,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
        }


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db
        _Base.metadata.create_all(db.engine)

    async def record(
        self,
        *,
        source: str,
        burner: str,
        action: str,
        result: str,
        detail: str | None = None,
        latency_ms: float | None = None,
    ) -> None:
        """Append one entry; a storage failure is logged, never raised into a cut."""
        row = _Row(
            ts=dt.datetime.now(dt.UTC),
            source=source[:16],
            burner=burner[:64],
            action=action[:32],
            result=result[:16],
            detail=None if detail is None else detail[:500],
            latency_ms=latency_ms,
        )
        try:
            await self.db.write(lambda s: s.add(row))
        except StorageError:
            _LOGGER.exception("could not write the audit log entry for %s %s", action, burner)

    async def recent(self, limit: int = 50, burner: str | None = None) -> list[AuditEntry]:
        limit = max(1, min(int(limit), 1000))

        def query(s: Session) -> list[AuditEntry]:
            stmt = select(_Row).order_by(_Row.id.desc()).limit(limit)
            if burner is not None:
                stmt = stmt.where(_Row.burner == burner)
            return [
                AuditEntry(
                    r.ts if r.ts.tzinfo else r.ts.replace(tzinfo=dt.UTC),
                    r.source, r.burner, r.action, r.result, r.detail, r.latency_ms,
                )
                for r in s.scalars(stmt)
            ]

        return await self.db.read(query)
