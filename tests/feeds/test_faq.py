"""The FAQ per paper from a language model: PDF text, the streaming client, the queue, restarts.

A fake OpenAI-compatible endpoint (``fakes.llm_peer``) speaks the real wire format over loopback HTTP and
also serves the papers' PDFs (made here with reportlab), fetched through the real polite client. Waits
are recorded, never slept: no timings.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes.llm_peer import LlmPeer, Reply, make_pdf
from fastapi import FastAPI
from sqlalchemy import select

from core.config import LlmConfig, PapersConfig, load_config
from core.database import Database
from core.errors import ConfigError, InputError, ParseError
from feeds.faq import PROMPT_VERSION, FaqEngine, FaqSnapshot
from feeds.faq.pdftext import CHARS_PER_TOKEN, PROMPT_RESERVE_TOKENS, extract_text_blocking, fit
from feeds.http import PoliteClient
from feeds.migrate import upgrade
from feeds.models import FaqAnswer, Paper

KEY = "sk-test-SECRET-0123456789"
LEFT = ["Left column one: we study sparse attention.", "$α + β ≤ γ", "The loss is L(x) = x^2 + 1."]
RIGHT = ["Right column two: results.", "Accuracy rises to 93.5 percent."]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'papers.db'}"
    upgrade(url)  # through the migrations, 0005 included
    with Database(url) as database:
        yield database


def add_paper(db: Database, pid: str, title: str, version: int = 1) -> None:
    now = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    db.write_blocking(lambda s: s.add(Paper(
        id=pid, title=title, title_tex=title, abstract="", abstract_tex="", authors=[], authors_tex="",
        primary_category="cs.LG", categories="cs.LG", fetched_at=now, latest_version=version,
    )))


@pytest.fixture
async def peer() -> AsyncIterator[LlmPeer]:
    async with LlmPeer() as p:
        yield p


class Harness:
    def __init__(self, db: Database, peer: LlmPeer, **llm: Any) -> None:
        cfg = LlmConfig(enabled=True, base_url=peer.base_url, model="fake-128k", pdf_url=peer.pdf_url,
                        api_key=KEY, **llm)
        self.http = PoliteClient(PapersConfig(user_agent="coolstove-test/1"), min_interval_s=0)
        self.sleeps: list[float] = []
        self.waiting_states: list[FaqSnapshot] = []
        self.engine = FaqEngine(cfg, db, self.http, sleep=self._sleep)
        self.engine.stream_every_s = 0
        self.task: asyncio.Task[None] | None = None

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        # what a reader sees while the engine waits (watchers only sample: a no-wait sleep is too quick)
        self.waiting_states += [await self.engine.status(j.key[0], j.key[2]) for j in self.engine._running]

    async def start(self) -> Harness:
        await self.engine.recover()
        self.task = asyncio.create_task(self.engine.run())
        return self

    async def kill(self) -> None:
        """As if the process died: the workers stop, nothing is written."""
        if self.task is not None:
            self.task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await self.task
            self.task = None

    async def stop(self) -> None:
        await self.kill()
        await self.engine.aclose()
        await self.http.aclose()

    async def states(self, pid: str, lang: str = "en") -> list[FaqSnapshot]:
        return [s async for s in self.engine.watch(pid, lang)]

    async def until(self, pid: str, pred: Any, lang: str = "en") -> FaqSnapshot:
        async for state in self.engine.watch(pid, lang):
            if pred(state):
                return state
        raise AssertionError(f"{pid} ended without reaching the state: {state}")


@pytest.fixture
async def harness(db: Database, peer: LlmPeer) -> AsyncIterator[Harness]:
    h = await Harness(db, peer).start()
    yield h
    await h.stop()


def rows(db: Database) -> list[FaqAnswer]:
    return db.read_blocking(lambda s: list(s.scalars(select(FaqAnswer).order_by(FaqAnswer.id))))


# ---------------------------------------------------------------- the PDF's text


def test_pdf_text_keeps_reading_order_and_maths() -> None:
    text = extract_text_blocking(make_pdf("Sparse attention", LEFT, RIGHT, pages=2))
    assert "α + β ≤ γ" in text
    assert text.index("Left column one") < text.index("L(x) = x^2 + 1") < text.index("Right column two")
    assert text.index("Accuracy rises") < text.index("Left column one: we study sparse attention. (page 2)")
    with pytest.raises(ParseError, match="cannot be read"):
        extract_text_blocking(b"%PDF-1.4 not really")


def test_fit_cuts_long_text_at_a_paragraph_within_budget() -> None:
    paragraph = "word " * 199 + "end.\n\n"
    text = paragraph * 100
    kept, cut = fit(text, 10_000)
    budget = (10_000 - PROMPT_RESERVE_TOKENS) * CHARS_PER_TOKEN
    assert cut
    assert len(kept) <= budget
    assert kept.endswith("end.")
    assert len(kept) > budget * 0.9
    assert fit(paragraph, 10_000) == (paragraph, False)


# ---------------------------------------------------------------- configuration


def test_llm_config_is_off_by_default_and_its_key_is_a_secret(tmp_path: Path) -> None:
    assert load_config(env={}).llm.enabled is False
    cfg = load_config(env={"COOLSTOVE_LLM_API_KEY": KEY, "COOLSTOVE_LLM__ENABLED": "true",
                           "COOLSTOVE_LLM__LANGUAGES": "zh,en"})
    assert (cfg.llm.enabled, cfg.llm.api_key, cfg.llm.languages) == (True, KEY, ("zh", "en"))
    assert KEY not in repr(cfg)
    assert KEY not in cfg.model_dump_json()
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "llm-api-key").write_text(KEY + "\n")
    assert load_config(env={"CREDENTIALS_DIRECTORY": str(creds)}).llm.api_key == KEY
    path = tmp_path / "c.toml"
    path.write_text(f'[llm]\nenabled = true\napi_key = "{KEY}"\n')
    refused = r"\[llm\] api_key: secrets are not read from the config file"
    with pytest.raises(ConfigError, match=refused) as info:
        load_config(path, env={})
    assert KEY not in str(info.value)
    with pytest.raises(ConfigError, match="COOLSTOVE_LLM_API_KEY or the credential llm-api-key"):
        load_config(env={"COOLSTOVE_LLM__API_KEY": KEY})
    path.write_text('[llm]\nlanguages = ["fr"]\nbase_url = "ftp://x"\n')
    both = r"(?s)base_url: must be an http.*languages: must be one or more of en, zh"
    with pytest.raises(ConfigError, match=both):
        load_config(path, env={})


# ---------------------------------------------------------------- generation


async def test_faq_streams_is_stored_and_shared(db: Database, peer: LlmPeer, harness: Harness) -> None:
    add_paper(db, "2403.00001", "Sparse attention", version=2)
    peer.pdfs["2403.00001v2"] = make_pdf("Sparse attention", LEFT, RIGHT)
    hold = asyncio.Event()
    peer.script.append(Reply.stream(["### What problem?\n\n", "Sparse $x_1$.", " Done."], hold=hold))

    first = await harness.engine.request("2403.00001", "en")
    assert (first.status, first.position, first.version) == ("queued", 1, 2)
    partial = await harness.until("2403.00001", lambda s: s.text)
    assert (partial.status, partial.text) == ("running", "### What problem?\n\n")  # streamed, not finished
    hold.set()
    last = (await harness.states("2403.00001"))[-1]
    assert (last.status, last.text) == ("done", "### What problem?\n\nSparse $x_1$. Done.")

    [row] = rows(db)
    assert (row.paper_id, row.version, row.language, row.model, row.prompt_version, row.status) == (
        "2403.00001", 2, "en", "fake-128k", PROMPT_VERSION, "done")
    assert (row.text, row.input_tokens, row.output_tokens, row.note) == (last.text, 1234, 56, None)

    [pdf_get] = [r for r in peer.requests if r.method == "GET"]
    assert (pdf_get.path, pdf_get.headers["user-agent"]) == ("/pdf/2403.00001v2", "coolstove-test/1")
    [chat] = peer.chat_requests
    assert chat.headers["authorization"] == f"Bearer {KEY}"
    body = chat.json()
    assert (body["model"], body["stream"]) == ("fake-128k", True)
    prompt = "\n".join(m["content"] for m in body["messages"])
    assert "Sparse attention" in prompt
    assert "α + β ≤ γ" in prompt
    assert "Accuracy rises" in prompt
    assert "What problem does this paper try to solve?" in prompt

    again = await harness.engine.request("2403.00001", "en")  # cached and shared: no second call
    assert (again.status, again.text) == ("done", last.text)
    assert len(peer.chat_requests) == 1

    peer.script.append(Reply.stream(["### 这篇论文", "解决什么？"]))
    await harness.engine.request("2403.00001", "zh")  # Chinese is generated on its own
    zh = (await harness.states("2403.00001", "zh"))[-1]
    assert (zh.status, zh.text) == ("done", "### 这篇论文解决什么？")
    zh_prompt = "\n".join(m["content"] for m in peer.chat_requests[1].json()["messages"])
    assert "这篇论文试图解决什么问题" in zh_prompt
    assert [(r.language, r.status) for r in rows(db)] == [("en", "done"), ("zh", "done")]
    assert (await harness.engine.status("2403.00001", "en")).text == last.text
    with pytest.raises(InputError, match="language"):
        await harness.engine.request("2403.00001", "fr")
    with pytest.raises(InputError, match="not in the local database"):
        await harness.engine.request("2403.09999", "en")


async def test_retry_after_is_honoured_and_broken_streams_start_over(
    db: Database, peer: LlmPeer, harness: Harness
) -> None:
    add_paper(db, "2403.00002", "Retries")
    peer.pdfs["2403.00002v1"] = make_pdf("Retries", LEFT, RIGHT)
    peer.script += [
        Reply.http(429, retry_after="7"),
        Reply.drop(["Partial that ", "is cut "]),  # the connection dies mid-body
        Reply.error_mid(["Half an "]),  # the stream reports an error
        Reply.stream(["Full ", "answer."]),
    ]
    await harness.engine.request("2403.00002", "en")
    states = await harness.states("2403.00002")
    assert (states[-1].status, states[-1].text) == ("done", "Full answer.")  # nothing left of the broken ones
    assert harness.sleeps == [7.0, 10.0, 20.0]  # Retry-After, then doubling pauses
    assert len(peer.chat_requests) == 4
    details = [(s.status, s.text, s.detail) for s in harness.waiting_states]
    assert details[0] == (
        "running", "", "the model's endpoint answered HTTP 429: fake error 429; retrying in 7 s")
    assert "the model's stream broke" in (details[1][2] or "")
    assert "retrying in 10 s" in (details[1][2] or "")
    assert rows(db)[0].text == "Full answer."


async def test_errors_are_shown_after_bounded_retries_and_asking_again_retries(
    db: Database, peer: LlmPeer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    h = await Harness(db, peer, max_retries=1).start()
    try:
        add_paper(db, "2403.00003", "Errors")
        peer.pdfs["2403.00003v1"] = make_pdf("Errors", LEFT, RIGHT)
        peer.script += [Reply.http(500), Reply.http(503)]
        await h.engine.request("2403.00003", "en")
        failed = (await h.states("2403.00003"))[-1]
        assert failed.status == "error"
        assert "HTTP 503" in (failed.error or "")
        assert "after 2 attempts" in (failed.error or "")
        assert len(peer.chat_requests) == 2
        assert h.sleeps == [5.0]

        peer.script.append(Reply.http(401))  # not worth retrying
        again = await h.engine.request("2403.00003", "en")
        assert again.status == "queued"
        failed = (await h.states("2403.00003"))[-1]
        assert failed.status == "error"
        assert "HTTP 401: fake error 401" in (failed.error or "")
        assert len(peer.chat_requests) == 3
        assert h.sleeps == [5.0]

        await h.engine.request("2403.00003", "en")  # the default answer this time
        assert (await h.states("2403.00003"))[-1].status == "done"
        assert rows(db)[0].error is None

        add_paper(db, "2403.00004", "No PDF")  # arXiv has no such PDF: said, not retried by us
        await h.engine.request("2403.00004", "en")
        nopdf = (await h.states("2403.00004"))[-1]
        assert nopdf.status == "error"
        assert "PDF could not be fetched" in (nopdf.error or "")
        assert "HTTP 404" in (nopdf.error or "")
    finally:
        await h.stop()
    assert KEY not in caplog.text
    assert all(KEY not in (r.error or "") for r in rows(db))


async def test_a_long_paper_is_cut_with_a_note_and_old_servers_get_no_stream_options(
    db: Database, peer: LlmPeer
) -> None:
    cut = Harness(db, peer, max_input_tokens=2_000)  # the smallest budget: 1,000 characters
    await cut.start()
    try:
        add_paper(db, "2403.00005", "Long")
        long_left = [f"Left line {i:03d} of a long paper about attention." for i in range(60)]
        peer.pdfs["2403.00005v1"] = make_pdf("Long", long_left, RIGHT)
        refused = "Extra inputs are not permitted: stream_options"
        peer.script += [Reply.http(400, message=refused), Reply.stream(["Short answer."])]
        await cut.engine.request("2403.00005", "en")
        done = (await cut.states("2403.00005"))[-1]
        assert (done.status, done.text) == ("done", "Short answer.")
        assert done.note is not None
        assert done.note.startswith("Only the first ")
        assert rows(db)[0].note == done.note
        first, second = (r.json() for r in peer.chat_requests)
        assert "stream_options" in first
        assert "stream_options" not in second  # asked again at once, without token counts
        assert cut.sleeps == []
        paper = second["messages"][1]["content"]
        assert "cut to fit the model's context" in paper
        assert "Left line 000" in paper
        assert "Accuracy rises" not in paper  # the right column comes after the cut
        assert len(paper) < 1_200
    finally:
        await cut.stop()


async def test_queue_positions_concurrency_and_bound(db: Database, peer: LlmPeer) -> None:
    h = await Harness(db, peer, max_concurrent=1, max_queue=2).start()
    hold = asyncio.Event()
    try:
        for pid in ("2403.00011", "2403.00012", "2403.00013", "2403.00014"):
            add_paper(db, pid, f"Paper {pid}")
            peer.pdfs[f"{pid}v1"] = make_pdf(f"Paper {pid}", LEFT, RIGHT)
        peer.script.append(Reply.stream(["A is ", "written."], hold=hold))
        await h.engine.request("2403.00011", "en")
        running = await h.until("2403.00011", lambda s: s.status == "running" and s.text)
        assert running.text == "A is "
        b = await h.engine.request("2403.00012", "en")
        c = await h.engine.request("2403.00013", "en")
        assert (b.status, b.position, c.status, c.position) == ("queued", 1, "queued", 2)
        with pytest.raises(InputError, match=r"queue is full \(2 waiting\)"):
            await h.engine.request("2403.00014", "en")
        assert (await h.engine.status("2403.00014", "en")).status == "none"
        assert (await h.engine.status("2403.00013", "en")).position == 2
        assert len(peer.chat_requests) == 1  # max_concurrent = 1: B waits for A

        states = h.engine.watch("2403.00013", "en")
        seen = [await anext(states)]  # while A is held: C is second in line
        hold.set()
        seen += [s async for s in states]
        positions = [s.position for s in seen if s.status == "queued"]
        assert positions[0] == 2
        assert positions[-1] == 1
        assert seen[-1].status == "done"
        titles = [r.json()["messages"][1]["content"].splitlines()[0] for r in peer.chat_requests]
        assert titles == ["# Paper 2403.00011", "# Paper 2403.00012", "# Paper 2403.00013"]
        assert [r.status for r in rows(db)] == ["done", "done", "done"]
    finally:
        hold.set()
        await h.stop()


async def test_a_job_cut_short_by_a_death_restarts_once(db: Database, peer: LlmPeer) -> None:
    add_paper(db, "2403.00021", "Restart")
    peer.pdfs["2403.00021v1"] = make_pdf("Restart", LEFT, RIGHT)
    hold = asyncio.Event()
    peer.script.append(Reply.stream(["Before ", "the crash."], hold=hold))
    first = await Harness(db, peer).start()
    await first.engine.request("2403.00021", "en")
    await first.until("2403.00021", lambda s: s.text == "Before ")
    await first.kill()  # the daemon dies mid-generation: the row stays as it was
    await first.http.aclose()
    await first.engine.chat.aclose()
    hold.set()
    assert [(r.status, r.restarts) for r in rows(db)] == [("running", 0)]

    second = Harness(db, peer)
    assert await second.engine.recover() == 1
    assert [(r.status, r.restarts) for r in rows(db)] == [("queued", 1)]
    queued = await second.engine.status("2403.00021", "en")
    assert (queued.status, queued.position) == ("queued", 1)
    second.task = asyncio.create_task(second.engine.run())
    try:
        done = (await second.states("2403.00021"))[-1]
        assert (done.status, done.text) == ("done", "### What problem?\n\nIt solves $x_1 < y$.\n\nDone.")
    finally:
        await second.stop()

    # A job that was running at a second death fails with a message instead of looping.
    db.write_blocking(lambda s: s.add(FaqAnswer(
        paper_id="2403.00021", version=1, language="zh", model="fake-128k", prompt_version=PROMPT_VERSION,
        status="running", text="", restarts=1, requested_at=dt.datetime.now(dt.UTC),
    )))
    third = Harness(db, peer)
    assert await third.engine.recover() == 0
    zh = await third.engine.status("2403.00021", "zh")
    assert zh.status == "error"
    assert "interrupted by a restart twice" in (zh.error or "")
    await third.stop()


async def test_an_orderly_stop_requeues_without_counting_a_restart(db: Database, peer: LlmPeer) -> None:
    add_paper(db, "2403.00031", "Stop")
    peer.pdfs["2403.00031v1"] = make_pdf("Stop", LEFT, RIGHT)
    hold = asyncio.Event()
    peer.script.append(Reply.stream(["Before ", "the stop."], hold=hold))
    h = await Harness(db, peer).start()
    try:
        await h.engine.request("2403.00031", "en")
        await h.until("2403.00031", lambda s: s.text == "Before ")
    finally:
        await h.stop()
        hold.set()
    assert [(r.status, r.restarts, r.text) for r in rows(db)] == [("queued", 0, "")]


async def test_the_daemon_resumes_its_faq_queue_at_start(tmp_path: Path, peer: LlmPeer) -> None:
    from daemon.papers import Papers

    cfg = load_config(env={
        "COOLSTOVE_STORAGE__DATA_DIR": str(tmp_path / "data"),
        "COOLSTOVE_PAPERS__CATEGORIES": "",  # no crawling: only the FAQ's PDF goes through the client
        "COOLSTOVE_LLM__ENABLED": "true",
        "COOLSTOVE_LLM__BASE_URL": peer.base_url,
        "COOLSTOVE_LLM__PDF_URL": peer.pdf_url,
        "COOLSTOVE_LLM__MODEL": "fake-128k",
        "COOLSTOVE_LLM_API_KEY": KEY,
    })
    upgrade(cfg.papers_db_url)
    with Database(cfg.papers_db_url) as db:  # what a daemon killed mid-generation left behind
        add_paper(db, "2403.00041", "Resumed")
        db.write_blocking(lambda s: s.add(FaqAnswer(
            paper_id="2403.00041", version=1, language="en", model="fake-128k",
            prompt_version=PROMPT_VERSION, status="running", text="", restarts=0,
            requested_at=dt.datetime.now(dt.UTC),
        )))
    peer.pdfs["2403.00041v1"] = make_pdf("Resumed", LEFT, RIGHT)
    part = Papers(cfg)
    await part.open()
    try:
        assert part.faq is not None
        assert any(t.get_name() == "faq" for t in part._tasks)
        done = [s async for s in part.faq.watch("2403.00041", "en")][-1]
        assert (done.status, done.text) == ("done", "".join(peer.answer))
        assert [(r.status, r.restarts) for r in rows(part.db)] == [("done", 1)]
        assert peer.chat_requests[0].headers["authorization"] == f"Bearer {KEY}"
        page = await _get(part, "/faq/2403.00041")
        assert page.status_code == 200
        assert "It solves" in page.text
    finally:
        await part.close()
    off = Papers(cfg.model_copy(update={"llm": LlmConfig()}))
    try:
        assert off.faq is None
        assert (await _get(off, "/faq/2403.00041")).status_code == 404
    finally:
        await off.feed.aclose()
        off.db.close()


async def _get(part: Any, path: str) -> httpx.Response:
    app = FastAPI()
    for router in part.routers():
        app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        return await c.get(path)
