"""[FAQ] in a real headless Chromium, end to end: the button on a paper, the queue's place, the answer
streamed from a fake OpenAI-compatible endpoint (PDFs from a fake arXiv through the polite client), maths
by KaTeX, and the answer restored when the page is opened again; at 1100 and 390 px, under the daemon's
Content-Security-Policy."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from chromium import BROWSER, SHOTS, serve_guarded
from fakes.llm_peer import LlmPeer, Reply, make_pdf
from fastapi import FastAPI
from services import free_port
from test_browser import _page

from core.config import Config, LlmConfig, PapersConfig
from core.database import Database
from feeds.faq import FaqEngine
from feeds.http import PoliteClient
from search.index import SearchIndex
from search.web import make_router

pytestmark = BROWSER
ANSWER = ["### What problem does this paper try to solve?\n\n", "Classifying images with graphs, ",
          "bounding $\\alpha \\leq \\beta$.\n\n", "### Results\n\n", "Better accuracy."]


@dataclass
class Served:
    url: str
    peer: LlmPeer
    hold: asyncio.Event
    loop: asyncio.AbstractEventLoop

    def release(self) -> None:
        self.loop.call_soon_threadsafe(self.hold.set)


@pytest.fixture
def faq_server(cfg: Config, filled_db: Database, index: SearchIndex) -> Iterator[Served]:
    peer = LlmPeer(ANSWER, port=free_port())
    for pid in ("2403.00001", "2403.00002", "2403.00003"):
        peer.pdfs[f"{pid}v1"] = make_pdf(f"Paper {pid}", ["Left column text."], ["Right column text."])
    llm = LlmConfig(enabled=True, base_url=peer.base_url, model="fake-128k", pdf_url=peer.pdf_url,
                    max_queue=1)
    http = PoliteClient(PapersConfig(), min_interval_s=0)
    engine = FaqEngine(llm, filled_db, http)
    ready: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await peer.start()
        ready["hold"] = asyncio.Event()
        ready["loop"] = asyncio.get_running_loop()
        peer.script.append(Reply.stream(ANSWER, hold=ready["hold"]))  # the first answer waits to be released
        await engine.recover()
        task = asyncio.create_task(engine.run())
        yield
        ready["hold"].set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.aclose()
        await http.aclose()
        await peer.stop()

    app = FastAPI(lifespan=lifespan)
    app.include_router(make_router(cfg, filled_db, index, faq=engine))
    with serve_guarded(app, lifespan="on") as url:
        yield Served(url, peer, ready["hold"], ready["loop"])


def _watch_csp(page: Any) -> list[str]:
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    return blocked


def test_faq_streams_queues_and_restores_in_chromium_at_1100(faq_server: Served) -> None:
    SHOTS.mkdir(exist_ok=True)
    with _page(1100) as page:
        blocked = _watch_csp(page)
        page.goto(f"{faq_server.url}/arxiv/cs.LG")
        first = page.locator("#\\32 403\\.00001")
        second = page.locator("#\\32 403\\.00002")
        first.locator("a.title-faq").click()
        pane = first.locator(".faq-pane")
        pane.locator(".faq-body h3").wait_for()  # the first piece, streamed while the rest is held back
        assert pane.locator(".faq-body").inner_text().strip() == "What problem does this paper try to solve?"
        assert pane.locator(".faq-model").inner_text() == ""
        second.locator("a.title-faq").click()  # one generation at a time: the second one waits
        second.locator(".faq-pane .faq-status", has_text="Pending: 1").wait_for()
        third = page.locator("#\\32 403\\.00003")
        third.locator("a.title-faq").click()  # max_queue = 1: refused, and the reader is told why
        third.locator(".faq-pane .faq-error", has_text="the FAQ queue is full (1 waiting)").wait_for()
        faq_server.release()
        pane.locator(".faq-model", has_text="Written by fake-128k").wait_for()
        assert "Better accuracy." in pane.locator(".faq-body").inner_text()
        assert pane.locator(".faq-body .math .katex").count() == 1  # $\alpha \leq \beta$ by KaTeX
        second.locator(".faq-pane .faq-model", has_text="Written by").wait_for()
        page.screenshot(path=str(SHOTS / "papers-faq.png"), full_page=True)
        first.locator("a.title-faq").click()  # a second click collapses the pane
        assert first.locator(".faq-pane").count() == 0
        calls = len(faq_server.peer.chat_requests)
        assert calls == 2

        page.reload()  # reopened: the stored answer is shown at once, not generated again
        page.locator("#\\32 403\\.00001 a.title-faq").click()
        page.locator("#\\32 403\\.00001 .faq-pane .faq-model", has_text="Written by").wait_for()
        assert "Classifying images with graphs" in page.locator("#\\32 403\\.00001 .faq-body").inner_text()
        assert len(faq_server.peer.chat_requests) == calls
        assert blocked == []


def test_faq_goes_on_when_the_page_is_closed_in_chromium_at_390(faq_server: Served) -> None:
    with _page(390) as page:
        blocked = _watch_csp(page)
        page.goto(f"{faq_server.url}/arxiv/2403.00003")
        page.locator("a.title-faq").click()
        page.locator(".faq-pane .faq-body h3").wait_for()
        assert page.locator(".faq-pane .faq-status").inner_text() == "Writing…"  # no queue place now
        page.goto(f"{faq_server.url}/arxiv/cs.LG")  # the reader leaves; the server goes on
        faq_server.release()
        page.goto(f"{faq_server.url}/arxiv/2403.00003")
        page.locator("a.title-faq").click()
        page.locator(".faq-pane .faq-model", has_text="Written by").wait_for()
        body = page.locator(".faq-pane .faq-body").inner_text()
        assert "Classifying images with graphs" in body
        assert "Better accuracy." in body
        assert len(faq_server.peer.chat_requests) == 1
        width = page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide at 390"
        page.screenshot(path=str(SHOTS / "papers-faq-390.png"), full_page=True)
        assert blocked == []
