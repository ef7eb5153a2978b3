"""The [FAQ] pages through the router, with a scripted FaqService: the button, the safe Markdown, the
queue's answers (JSON, redirect, refusals) and the server-sent event stream."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from services import free_port

import search.web.faq
from core.config import Config
from core.database import Database
from core.errors import InputError
from search.index import SearchIndex
from search.web import make_router
from search.web.faq import render_markdown

HOSTILE = (
    "### What problem? <script>alert('x')</script>\n\n"
    "It bounds $a_1 < b$ and\n\n$$\n\\sum_i x_i\n$$\n\nalso \\(y^2\\).\n\n"
    '<img src=x onerror="alert(1)"> [bad](javascript:alert(1)) [ok](https://example.org/a) '
    "[rel](/stars) ![pic](https://example.org/p.png)\n"
)


@dataclass(frozen=True)
class State:
    paper_id: str
    version: int = 1
    language: str = "en"
    model: str = "fake-128k"
    status: str = "none"
    position: int | None = None
    text: str = ""
    note: str | None = None
    error: str | None = None
    detail: str | None = None


class FakeFaq:
    languages = ("en", "zh")

    def __init__(self) -> None:
        self.states: dict[tuple[str, str], State] = {}
        self.script: list[State] = []  # what watch() yields
        self.full = False
        self.requested: list[tuple[str, str]] = []
        self.pause_before: State | None = None  # watch() waits for ``resume`` before yielding this one
        self.resume = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    def _check(self, pid: str, lang: str) -> None:
        if lang not in self.languages:
            raise InputError(f"FAQ language must be one of en, zh, got {lang!r}")
        if not pid.startswith("2403."):
            raise InputError(f"{pid} is not in the local database")

    async def status(self, paper_id: str, language: str) -> State:
        self._check(paper_id, language)
        return self.states.get((paper_id, language), State(paper_id, language=language))

    async def request(self, paper_id: str, language: str) -> State:
        self._check(paper_id, language)
        if self.full:
            raise InputError("the FAQ queue is full (100 waiting); try again in a while")
        self.requested.append((paper_id, language))
        queued = State(paper_id, language=language, status="queued", position=3)
        return self.states.setdefault((paper_id, language), queued)

    async def watch(self, paper_id: str, language: str) -> AsyncIterator[State]:
        for state in self.script:
            if state is self.pause_before:
                self.loop = asyncio.get_running_loop()
                await self.resume.wait()
            yield state


@pytest.fixture
def faq() -> FakeFaq:
    return FakeFaq()


@pytest.fixture
async def faq_client(cfg: Config, filled_db: Database, index: SearchIndex, faq: FakeFaq) -> AsyncIterator[
        httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(make_router(cfg, filled_db, index, faq=faq))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


async def test_the_button_is_there_only_when_the_faq_is_on(
    client: httpx.AsyncClient, faq_client: httpx.AsyncClient
) -> None:
    for path in ("/arxiv/cs.LG", "/arxiv/2403.00001"):
        off = (await client.get(path)).text
        assert "title-faq" not in off
        assert "faq.js" not in off
        on = (await faq_client.get(path)).text
        assert 'href="/go/faq/2403.00001" data-click="faq" data-langs="en zh"' in on
        assert "/static/papers/faq.js" in on
    day = (await faq_client.get("/arxiv/cs.LG")).text
    assert day.count('class="title-faq"') == 5  # one per paper of the day
    assert (await client.get("/faq/2403.00001")).status_code == 404  # no FAQ routes when it is off


def test_model_markdown_is_rendered_without_raw_html_or_unsafe_links() -> None:
    html = render_markdown(HOSTILE)
    assert "<script" not in html
    assert "<img" not in html
    assert "javascript:" not in html.replace(
        "[bad](javascript:alert(1))", "")
    assert "&lt;script&gt;" in html
    assert "&lt;img src=x" in html
    assert "[bad](javascript:alert(1))" in html  # left as text, not a link
    assert '<a href="https://example.org/a" rel="nofollow noopener noreferrer">ok</a>' in html
    assert 'href="/stars"' not in html  # only absolute http(s) links
    assert 'href="https://example.org/p.png"' in html
    assert "<img" not in html
    assert '<span class="math inline">a_1 &lt; b</span>' in html
    assert '<div class="math block">\n\\sum_i x_i\n</div>' in html
    assert '<span class="math inline">y^2</span>' in html  # \( \) is maths too
    assert "<h3>What problem?" in html


async def test_the_faq_page_shows_states_and_a_form(faq_client: httpx.AsyncClient, faq: FakeFaq) -> None:
    page = await faq_client.get("/faq/2403.00001")
    assert page.status_code == 200
    assert 'action="/faq/2403.00001?lang=en"' in page.text
    assert "Ask the model" in page.text
    faq.states[("2403.00001", "en")] = State("2403.00001", status="queued", position=4)
    page = await faq_client.get("/faq/2403.00001")
    assert "Pending: 4" in page.text
    assert 'http-equiv="refresh"' in page.text
    faq.states[("2403.00001", "zh")] = State("2403.00001", language="zh", status="done", text=HOSTILE,
                                             note="Only the first 10 of 20 characters")
    page = await faq_client.get("/faq/2403.00001?lang=zh")
    assert "<script>alert" not in page.text
    assert '<span class="math inline">a_1 &lt; b</span>' in page.text
    assert "Only the first 10 of 20 characters" in page.text
    assert 'http-equiv="refresh"' not in page.text
    assert "Written by fake-128k" in page.text
    assert (await faq_client.get("/faq/2403.00001?lang=fr")).status_code == 404
    assert (await faq_client.get("/faq/1999.99999")).status_code == 404


async def test_asking_queues_and_refusals_say_why(faq_client: httpx.AsyncClient, faq: FakeFaq) -> None:
    r = await faq_client.post("/faq/2403.00002?lang=zh", headers={"Accept": "application/json"})
    assert r.status_code == 200
    body = r.json()
    got = (body["id"], body["language"], body["status"], body["position"])
    assert got == ("2403.00002", "zh", "queued", 3)
    r = await faq_client.post("/faq/2403.00003")  # a form without JavaScript: back to the FAQ's page
    assert r.status_code == 303
    assert r.headers["location"] == "/faq/2403.00003?lang=en"
    r = await faq_client.post("/faq/2403.00003", headers={"Origin": "https://evil.example",
                                                          "Accept": "application/json"})
    assert r.status_code == 403
    assert faq.requested == [("2403.00002", "zh"), ("2403.00003", "en")]
    faq.full = True
    r = await faq_client.post("/faq/2403.00001", headers={"Accept": "application/json"})
    assert r.status_code == 503
    assert "queue is full" in r.json()["error"]
    r = await faq_client.post("/faq/2403.00001")
    assert r.status_code == 503
    assert "queue is full" in r.text


async def test_the_stream_sends_each_state_as_an_event(faq_client: httpx.AsyncClient, faq: FakeFaq) -> None:
    base = State("2403.00001")
    faq.script = [
        replace(base, status="queued", position=2),
        replace(base, status="queued", position=1),
        replace(base, status="running", text="### Q\n\nIt bounds $a<b$"),
        replace(base, status="done", text="### Q\n\nIt bounds $a<b$. <b>x</b>"),
    ]
    async with faq_client.stream("GET", "/faq-stream/2403.00001?lang=en") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-cache"
        raw = "".join([chunk async for chunk in r.aiter_text()])
    events = [json.loads(block.removeprefix("data: ")) for block in raw.split("\n\n") if block]
    assert [(e["status"], e["position"]) for e in events] == [
        ("queued", 2), ("queued", 1), ("running", None), ("done", None)]
    assert events[2]["html"] == '<h3>Q</h3>\n<p>It bounds <span class="math inline">a&lt;b</span></p>\n'
    assert "&lt;b&gt;x&lt;/b&gt;" in events[3]["html"]
    r = await faq_client.get("/faq-stream/1999.99999")
    assert r.status_code == 404
    assert "not in the local database" in r.json()["error"]


def test_a_quiet_stream_sends_comments_until_the_next_state(
    cfg: Config, filled_db: Database, index: SearchIndex, faq: FakeFaq, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search.web.faq, "HEARTBEAT_S", 0)
    base = State("2403.00001")
    done = replace(base, status="done", text="Answer.")
    faq.script = [replace(base, status="queued", position=1), done]
    faq.pause_before = done
    app = FastAPI()
    app.include_router(make_router(cfg, filled_db, index, faq=faq))
    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        while not srv.started:
            thread.join(0.02)
        raw = ""
        # a real server: the ASGI test transport would wait for the whole body
        with httpx.stream("GET", f"http://127.0.0.1:{port}/faq-stream/2403.00001", timeout=20) as r:
            for chunk in r.iter_text():
                raw += chunk
                if ": waiting" in chunk and faq.loop is not None:
                    faq.loop.call_soon_threadsafe(faq.resume.set)  # the state comes after a comment
    finally:
        srv.should_exit = True
        thread.join(10)
    blocks = [b for b in raw.split("\n\n") if b]
    assert json.loads(blocks[0].removeprefix("data: "))["status"] == "queued"
    assert ": waiting" in blocks[1:-1]
    assert json.loads(blocks[-1].removeprefix("data: "))["html"] == "<p>Answer.</p>\n"
