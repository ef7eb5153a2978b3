"""The FAQ queue: one job per (paper version, language, model, prompt version), generated once and
shared, ``max_concurrent`` at a time, with a visible place in the queue and live text while it is
written.

Every job is a row first (``faq_answers``): a request writes it ``queued`` before it joins the
in-memory queue, a worker marks it ``running``, the answer or the error is written when it ends. At
start :meth:`FaqEngine.recover` reads the queue back in order; a job that was running when the process
died is started again once. An orderly stop puts running jobs back in the queue. Readers follow a job
through :meth:`FaqEngine.watch`, which keeps going whether or not anyone reads it: closing the page
does not stop the generation.

The PDF comes from arXiv through the crawler's polite client at the user priority; model errors worth
retrying (429, 5xx, a broken stream) are retried ``max_retries`` times, after ``Retry-After`` when the
endpoint sends one, else after a doubling pause; the reader sees each retry's reason.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from core.config import LlmConfig
from core.database import Database
from core.errors import CoolstoveError, FeedError, InputError, LlmError
from feeds.faq import storage
from feeds.faq.llm import ChatClient
from feeds.faq.pdftext import extract_text_blocking, fit
from feeds.faq.prompts import PROMPT_VERSION, messages, truncation_note
from feeds.http import PoliteClient, Priority, expect_status
from feeds.ids import normalize_id

__all__ = ["FaqEngine", "FaqSnapshot"]

_LOGGER = logging.getLogger(__name__)
STREAM_EVERY_S = 0.2  # a watcher sends the text at most this often (pieces in between are merged)
FIRST_RETRY_S = 5.0  # without Retry-After: 5 s, 10 s, 20 s, ...
MAX_RETRY_WAIT_S = 300.0  # a Retry-After longer than this fails the job instead


@dataclass(frozen=True)
class FaqSnapshot:
    """What a reader sees of one FAQ: ``status`` is none | queued | running | done | error."""

    paper_id: str
    version: int
    language: str
    model: str
    status: str
    position: int | None = None  # 1 = next to start (queued only)
    text: str = ""
    note: str | None = None
    error: str | None = None
    detail: str | None = None  # what a running job is doing ("fetching the PDF", "retrying in 7 s: ...")


@dataclass(eq=False)
class _Job:
    row_id: int
    key: storage.Key
    text: str = ""
    note: str | None = None
    detail: str | None = None
    tokens: tuple[int | None, int | None] = field(default=(None, None))


class FaqEngine:
    """The FAQ service the paper pages use (``search.ports.FaqService``)."""

    def __init__(
        self,
        llm: LlmConfig,
        db: Database,
        http: PoliteClient,
        *,
        chat: ChatClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.cfg = llm
        self.languages: tuple[str, ...] = llm.languages
        self.db = db
        self.http = http
        self.chat = chat or ChatClient(llm.base_url, llm.model, llm.api_key, timeout_s=llm.timeout_s)
        self._sleep = sleep
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._waiting: list[_Job] = []
        self._running: list[_Job] = []
        self._jobs: dict[storage.Key, _Job] = {}
        self._changed = asyncio.Event()
        self.stream_every_s = STREAM_EVERY_S

    # ------------------------------------------------------------ state changes
    def _touch(self) -> None:
        """Wake everyone waiting for a change (watchers, idle workers)."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _key(self, paper_id: str, version: int, language: str) -> storage.Key:
        return (paper_id, version, language, self.cfg.model, PROMPT_VERSION)

    def _snapshot(self, key: storage.Key, job: _Job | None, row: storage.Row | None) -> FaqSnapshot:
        pid, version, language, model, _ = key
        if job is not None:
            if job in self._waiting:
                return FaqSnapshot(pid, version, language, model, "queued",
                                   position=self._waiting.index(job) + 1)
            return FaqSnapshot(pid, version, language, model, "running", text=job.text, note=job.note,
                               detail=job.detail)
        if row is None:
            return FaqSnapshot(pid, version, language, model, "none")
        return FaqSnapshot(pid, version, language, model, row.status, text=row.text, note=row.note,
                           error=row.error)

    async def _paper(self, paper_id: str, language: str) -> tuple[str, int]:
        if language not in self.languages:
            raise InputError(f"FAQ language must be one of {', '.join(self.languages)}, got {language!r}")
        pid = normalize_id(paper_id)  # InputError for what is not an arXiv id
        found = await self.db.read(lambda s: storage.paper_for_faq(s, pid))
        if found is None:
            raise InputError(f"{pid} is not in the local database")
        return pid, found[1]

    # ------------------------------------------------------------ what the pages call
    async def status(self, paper_id: str, language: str) -> FaqSnapshot:
        """The FAQ of the paper's latest version in ``language`` as it stands; InputError for a bad id or
        language, or a paper not in the database."""
        pid, version = await self._paper(paper_id, language)
        return await self._status(self._key(pid, version, language))

    async def _status(self, key: storage.Key) -> FaqSnapshot:
        job = self._jobs.get(key)
        row = None if job is not None else await self.db.read(lambda s: storage.get(s, key))
        return self._snapshot(key, self._jobs.get(key), row)

    async def request(self, paper_id: str, language: str) -> FaqSnapshot:
        """Queue the FAQ unless it exists or is under way (an error is tried again); InputError when the
        queue is full."""
        pid, version = await self._paper(paper_id, language)
        key = self._key(pid, version, language)
        if key in self._jobs:
            return self._snapshot(key, self._jobs[key], None)
        row = await self.db.read(lambda s: storage.get(s, key))
        if row is not None and row.status == "done":
            return self._snapshot(key, None, row)
        if len(self._waiting) >= self.cfg.max_queue:
            raise InputError(
                f"the FAQ queue is full ({len(self._waiting)} waiting); try again in a while"
            )
        row = await self.db.write(lambda s: storage.enqueue(s, key, self._clock()))
        if key not in self._jobs and row.status in ("queued", "running"):  # another request may have won
            job = _Job(row.id, key)
            self._jobs[key] = job
            self._waiting.append(job)
            self._touch()
            _LOGGER.info("FAQ queued: %s v%d (%s), %d waiting", pid, version, language, len(self._waiting))
        return self._snapshot(key, self._jobs.get(key), row)

    async def watch(self, paper_id: str, language: str) -> AsyncIterator[FaqSnapshot]:
        """Each new state of the FAQ until it is done or failed (or was never asked for)."""
        pid, version = await self._paper(paper_id, language)
        key = self._key(pid, version, language)
        last: FaqSnapshot | None = None
        while True:
            changed = self._changed
            snap = await self._status(key)
            if snap != last:
                yield snap
                last = snap
            if snap.status in ("none", "done", "error"):
                return
            await changed.wait()
            await asyncio.sleep(self.stream_every_s)  # let a few more pieces arrive: one event for them

    # ------------------------------------------------------------ lifecycle
    async def recover(self) -> int:
        """Read the queue back from the database (at start, before :meth:`run`); returns its length."""
        rows = await self.db.write(lambda s: storage.recover(s, self._clock()))
        for row in rows:
            if row.key not in self._jobs:
                job = _Job(row.id, row.key)
                self._jobs[row.key] = job
                self._waiting.append(job)
        if rows:
            _LOGGER.info("FAQ queue restored: %d job(s)", len(rows))
        self._touch()
        return len(rows)

    async def run(self) -> None:
        """The workers, ``max_concurrent`` of them, until cancelled."""
        async with asyncio.TaskGroup() as group:
            for n in range(self.cfg.max_concurrent):
                group.create_task(self._worker(), name=f"faq-{n}")

    async def aclose(self) -> None:
        """After :meth:`run` was cancelled: jobs cut short go back to the queue (not as a restart)."""
        stopped = [job.row_id for job in self._running]
        self._running.clear()
        if stopped:
            await self.db.write(lambda s: storage.requeue(s, stopped))
            _LOGGER.info("FAQ: %d running job(s) queued again for the next start", len(stopped))
        await self.chat.aclose()

    # ------------------------------------------------------------ the work
    async def _worker(self) -> None:
        while True:
            while not self._waiting:
                await self._changed.wait()
            job = self._waiting.pop(0)
            self._running.append(job)
            self._touch()
            try:
                await self._generate(job)
            except CoolstoveError as exc:
                _LOGGER.warning("FAQ %s v%d (%s) failed: %s", job.key[0], job.key[1], job.key[2], exc)
                await self._fail(job, str(exc))
            except Exception as exc:  # a bug fails one job, not the queue
                _LOGGER.exception("FAQ %s: unexpected error", job.key[0])
                await self._fail(job, f"internal error: {exc!r}")

    async def _fail(self, job: _Job, message: str) -> None:
        await self._end(job, lambda s: storage.fail(s, job.row_id, message, self._clock()))

    async def _end(self, job: _Job, write: Callable[[Session], None]) -> None:
        try:
            await self.db.write(write)
        finally:
            if job in self._running:
                self._running.remove(job)
            self._jobs.pop(job.key, None)
            self._touch()

    def _detail(self, job: _Job, detail: str | None) -> None:
        job.detail = detail
        self._touch()

    async def _generate(self, job: _Job) -> None:
        pid, version, language, _, _ = job.key
        await self.db.write(lambda s: storage.mark_running(s, job.row_id, self._clock()))
        self._detail(job, "fetching the PDF from arXiv")
        text = await self._paper_text(f"{pid}v{version}")
        title = (await self.db.read(lambda s: storage.paper_for_faq(s, pid)) or (pid, version))[0]
        kept, cut = fit(text, self.cfg.max_input_tokens)
        job.note = truncation_note(language, len(kept), len(text)) if cut else None
        prompt = messages(language, title, kept, cut)
        for attempt in range(self.cfg.max_retries + 1):
            job.text, job.tokens = "", (None, None)
            self._detail(job, "waiting for the model")
            try:
                async for chunk in self.chat.stream(prompt):
                    if chunk.text:
                        job.text += chunk.text
                        job.detail = None
                        self._touch()
                    if chunk.prompt_tokens is not None or chunk.completion_tokens is not None:
                        job.tokens = (chunk.prompt_tokens, chunk.completion_tokens)
                break
            except LlmError as exc:
                if not exc.retryable or attempt >= self.cfg.max_retries:
                    suffix = f" (after {attempt + 1} attempts)" if attempt else ""
                    raise LlmError(f"{exc}{suffix}", status=exc.status) from exc
                delay = exc.retry_after if exc.retry_after is not None else FIRST_RETRY_S * 2**attempt
                if delay > MAX_RETRY_WAIT_S:
                    raise LlmError(f"{exc}; asked to wait {delay:.0f} s, more than {MAX_RETRY_WAIT_S:.0f} s",
                                   status=exc.status) from exc
                _LOGGER.warning("FAQ %s: %s; retrying in %.0f s (attempt %d of %d)", pid, exc, delay,
                                attempt + 2, self.cfg.max_retries + 1)
                job.text = ""
                self._detail(job, f"{exc}; retrying in {delay:.0f} s")
                await self._sleep(delay)
        if not job.text.strip():
            raise LlmError("the model returned an empty answer")
        _LOGGER.info("FAQ done: %s v%d (%s), %d characters", pid, version, language, len(job.text))
        answer, note, tokens = job.text, job.note, job.tokens
        await self._end(job, lambda s: storage.finish(s, job.row_id, answer, note, tokens, self._clock()))

    async def _paper_text(self, versioned_id: str) -> str:
        url = self.cfg.pdf_url.format(id=versioned_id)
        try:
            result = expect_status(await self.http.get(url, priority=Priority.USER), 200)
        except FeedError as exc:
            raise FeedError(f"the PDF could not be fetched: {exc}") from exc
        if not result.content.startswith(b"%PDF-"):
            raise FeedError(f"{url} did not send a PDF")
        return await asyncio.to_thread(extract_text_blocking, result.content)
