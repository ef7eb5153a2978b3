"""The FAQ rows (``feeds.models.FaqAnswer``): answers and queued jobs. Each function takes a Session and
runs inside the caller's ``db.read``/``db.write`` (one transaction); rows leave as plain :class:`Row` s."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from feeds.models import FaqAnswer, Paper

__all__ = [
    "Key",
    "Row",
    "enqueue",
    "fail",
    "finish",
    "get",
    "mark_running",
    "paper_for_faq",
    "recover",
    "requeue",
]

#: (paper id, version, language, model, prompt version): what one answer is the answer to.
Key = tuple[str, int, str, str, int]
RESTARTS = 1  # a job cut short by the daemon's death is started again this many times


@dataclass(frozen=True)
class Row:
    id: int
    key: Key
    status: str
    text: str
    note: str | None
    error: str | None
    restarts: int


def _row(a: FaqAnswer) -> Row:
    return Row(a.id, (a.paper_id, a.version, a.language, a.model, a.prompt_version), a.status, a.text,
               a.note, a.error, a.restarts)


def _find(session: Session, key: Key) -> FaqAnswer | None:
    pid, version, language, model, prompt = key
    return session.scalars(select(FaqAnswer).where(
        FaqAnswer.paper_id == pid, FaqAnswer.version == version, FaqAnswer.language == language,
        FaqAnswer.model == model, FaqAnswer.prompt_version == prompt,
    )).one_or_none()


def paper_for_faq(session: Session, paper_id: str) -> tuple[str, int] | None:
    """(title, latest version) of a paper in the database, or None."""
    row = session.execute(select(Paper.title, Paper.latest_version).where(Paper.id == paper_id)).one_or_none()
    return None if row is None else (row[0], row[1] or 1)


def get(session: Session, key: Key) -> Row | None:
    found = _find(session, key)
    return None if found is None else _row(found)


def enqueue(session: Session, key: Key, now: dt.datetime) -> Row:
    """The row for ``key``, queued if it was absent or had failed; a queued, running or done row is
    returned as it is."""
    found = _find(session, key)
    if found is None:
        pid, version, language, model, prompt = key
        found = FaqAnswer(paper_id=pid, version=version, language=language, model=model,
                          prompt_version=prompt, status="queued", text="", restarts=0, requested_at=now)
        session.add(found)
        session.flush()
    elif found.status == "error":
        found.status, found.text, found.error, found.note = "queued", "", None, None
        found.restarts, found.requested_at, found.started_at, found.finished_at = 0, now, None, None
    return _row(found)


def mark_running(session: Session, row_id: int, now: dt.datetime) -> None:
    answer = session.get(FaqAnswer, row_id)
    if answer is not None:
        answer.status, answer.started_at = "running", now


def finish(session: Session, row_id: int, text: str, note: str | None, tokens: tuple[int | None, int | None],
           now: dt.datetime) -> None:
    answer = session.get(FaqAnswer, row_id)
    if answer is not None:
        answer.status, answer.text, answer.note, answer.error = "done", text, note, None
        answer.finished_at = now
        answer.input_tokens, answer.output_tokens = tokens


def fail(session: Session, row_id: int, error: str, now: dt.datetime) -> None:
    answer = session.get(FaqAnswer, row_id)
    if answer is not None:
        answer.status, answer.error, answer.text, answer.finished_at = "error", error, "", now


def requeue(session: Session, row_ids: list[int]) -> None:
    """Jobs stopped by an orderly shutdown: queued again, without counting a restart."""
    for row_id in row_ids:
        answer = session.get(FaqAnswer, row_id)
        if answer is not None and answer.status == "running":
            answer.status, answer.text = "queued", ""


def recover(session: Session, now: dt.datetime) -> list[Row]:
    """At start: a job that was running when its process died is queued again (once; the second time it
    fails with a message), and every queued job is returned in queue order."""
    for answer in session.scalars(select(FaqAnswer).where(FaqAnswer.status == "running")):
        if answer.restarts < RESTARTS:
            answer.status, answer.text, answer.restarts = "queued", "", answer.restarts + 1
        else:
            answer.status, answer.finished_at = "error", now
            answer.error = "the generation was interrupted by a restart twice; ask again to retry"
    session.flush()
    queued = session.scalars(select(FaqAnswer).where(FaqAnswer.status == "queued").order_by(FaqAnswer.id))
    return [_row(a) for a in queued]
