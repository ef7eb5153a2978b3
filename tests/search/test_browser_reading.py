"""Issue 13's reading aids in headless Chromium, behind the daemon's guard and its page CSP, at desktop
width and at 390 px: the [PDF] preview (PDF.js, the PDF fetched by the browser from a local stand-in for
arXiv), click counts, and a long day list loaded page by page as the reader scrolls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import BROWSER, SHOTS, launched, serve_guarded
from playwright.sync_api import expect
from reading_data import (
    LONG_CROSS,
    LONG_NEW,
    PAGE_SIZE,
    add_long_day,
    make_cjk_pdf,
    make_jpx_pdf,
    pdf_host,
)
from search_data import make_app
from sqlalchemy import select

from core.config import Config, PapersConfig, StorageConfig
from core.database import Database
from daemon.http import page_csp
from feeds.models import Click, Star
from search.index import SearchIndex

pytestmark = BROWSER

WIDTHS = (1100, 390)
PID = "2403.00001"
SEL = "#\\32 403\\.00001"
CJK, JPX = "2403.10000", "2403.10001"  # papers of the long day whose PDFs need PDF.js's data files


@pytest.fixture
def pdfs() -> Iterator[tuple[str, list[str]]]:
    with pdf_host(special={CJK: make_cjk_pdf(), JPX: make_jpx_pdf()}) as host:
        yield host


@pytest.fixture
def site(
    tmp_path: Path, filled_db: Database, index: SearchIndex, pdfs: tuple[str, list[str]]
) -> Iterator[str]:
    add_long_day(filled_db)
    cfg = Config(
        storage=StorageConfig(data_dir=tmp_path),
        papers=PapersConfig(categories=("cs.LG",), pdf_url=pdfs[0], page_size=PAGE_SIZE),
    )
    with serve_guarded(make_app(cfg, filled_db, index), page_csp(cfg.papers.pdf_url)) as base:
        yield base


def _watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


# counts the canvas's dark pixels (the PDF's black block and its text); a blank canvas has none
DARK_PIXELS = """(c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i] < 60 && d[i + 1] < 60 && d[i + 2] < 60) n++;
  return n;
}"""


def _clicks(db: Database, pid: str, kind: str = "pdf") -> int | None:
    return db.read_blocking(
        lambda s: s.scalar(select(Click.count).where(Click.paper_id == pid, Click.kind == kind))
    )


def test_pdf_preview_paints_pages_collapses_and_counts(
    site: str, pdfs: tuple[str, list[str]], filled_db: Database
) -> None:
    SHOTS.mkdir(exist_ok=True)
    with launched() as browser:
        for turn, width in enumerate(WIDTHS, start=1):
            page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
            problems = _watch(page)
            page.goto(f"{site}/arxiv/cs.LG")
            page.click(f"{SEL} a.title-pdf")
            assert page.url == f"{site}/arxiv/cs.LG"  # previewed in place, not followed
            pane = page.locator(f"{SEL} .pdf-pane")
            page.wait_for_selector(f"{SEL} .pdf-pane[data-rendered='3']")  # three pages at a time
            canvases = pane.locator("canvas.pdf-page")
            assert canvases.count() == 3
            first = canvases.first
            assert first.evaluate(DARK_PIXELS) > 1000, "the canvas was not painted"
            box = first.bounding_box()
            assert box is not None
            assert box["width"] <= width
            assert box["height"] > box["width"]
            assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing widens the page
            page.click(f"{SEL} .pdf-more")
            page.wait_for_selector(f"{SEL} .pdf-pane[data-rendered='4']")
            assert "4 of 4 pages" in pane.locator(".pdf-status").inner_text()
            # the click was counted (a same-origin POST), shown after [PDF], and stored
            opened = 2 * (turn - 1) + 1  # each width opens it, collapses it and opens it again
            expect(page.locator(f"{SEL} a.title-pdf .click-count")).to_have_text(str(opened))
            assert _clicks(filled_db, PID) == opened
            page.screenshot(path=str(SHOTS / f"papers-pdf-preview-{width}.png"))
            # collapse this pane; open a second one, then "collapse all"
            page.click(f"{SEL} .pdf-collapse")
            assert pane.is_hidden()
            assert page.locator(".pdf-collapse-all").is_hidden()
            page.click("#\\32 403\\.00002 a.title-pdf")
            page.wait_for_selector("#\\32 403\\.00002 .pdf-pane[data-rendered='3']")
            page.click(f"{SEL} a.title-pdf")  # opens the collapsed pane again, as it was
            assert pane.is_visible()
            assert pane.locator("canvas.pdf-page").count() == 4
            assert page.locator(".pdf-pane:visible").count() == 2
            page.click(".pdf-collapse-all")
            assert page.locator(".pdf-pane:visible").count() == 0
            if turn == 1:  # any link marked data-click="faq" in a paper is counted as a FAQ click
                page.evaluate(
                    """() => {
                      const a = document.createElement('a');
                      a.href = '#faq'; a.setAttribute('data-click', 'faq'); a.className = 'test-faq';
                      a.innerHTML = 'FAQ<span class="click-count" data-kind="faq"></span>';
                      document.querySelector('[data-id="2403.00002"] .actions').append(a);
                    }"""
                )
                page.click("#\\32 403\\.00002 a.test-faq")
                expect(page.locator("#\\32 403\\.00002 a.test-faq .click-count")).to_have_text("1")
            assert problems == [], problems
            page.context.close()
    # the browser fetched the PDFs from the PDF host, never through the daemon
    assert pdfs[1].count(f"/pdf/{PID}") == 2
    assert "/pdf/2403.00002" in pdfs[1]
    assert _clicks(filled_db, PID) == 4  # opened twice at each width (a collapse does not count)
    assert _clicks(filled_db, "2403.00002") == 2
    assert _clicks(filled_db, "2403.00002", "faq") == 1


def test_pdf_preview_draws_cjk_text_and_jpeg2000_images(site: str, pdfs: tuple[str, list[str]]) -> None:
    """The vendored CMaps, standard fonts and image decoders are found under the page CSP: an unembedded
    Chinese font and a JPEG 2000 image are drawn, with no PDF.js warning (a missing CMap or decoder is a
    "Warning:" line and a blank canvas)."""
    with launched() as browser:
        page = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
        problems = _watch(page)
        warnings: list[str] = []
        # PDF.js's own warnings; this machine has no Chinese system font, which PDF.js notes and survives
        noisy = lambda m: m.text.startswith("Warning:") and "Cannot load system font" not in m.text  # noqa: E731
        page.on("console", lambda m: warnings.append(m.text) if noisy(m) else None)
        data: list[str] = []
        page.on("response", lambda r: data.append(f"{r.status} {r.url}") if "/pdfjs/" in r.url else None)
        page.goto(f"{site}/arxiv/cs.LG")
        inked: dict[str, int] = {}
        for pid in (CJK, JPX):
            sel = "#" + "\\3" + pid[0] + " " + pid[1:].replace(".", "\\.")
            page.click(f"{sel} a.title-pdf")
            page.wait_for_selector(f"{sel} .pdf-pane[data-rendered='1']")
            inked[pid] = page.locator(f"{sel} canvas.pdf-page").first.evaluate(DARK_PIXELS)
        assert problems == [], problems
        assert warnings == [], (warnings, data)
        assert inked[CJK] > 3000, "the Chinese text was not drawn"
        assert inked[JPX] > 20000, "the JPEG 2000 image was not drawn"
        fetched = " ".join(data)
        assert "/pdfjs/cmaps/UniGB-UCS2-H.bcmap" in fetched  # from this daemon, not from a CDN
        assert "/pdfjs/wasm/openjpeg" in fetched
        assert all(line.startswith("200 ") for line in data), data
    assert f"/pdf/{CJK}" in pdfs[1]
    assert f"/pdf/{JPX}" in pdfs[1]


def test_pdf_without_javascript_counts_and_lands_on_the_pdf_host(
    site: str, pdfs: tuple[str, list[str]], filled_db: Database
) -> None:
    with launched() as browser:
        page = browser.new_context(java_script_enabled=False).new_page()
        page.goto(f"{site}/arxiv/cs.LG")
        with page.expect_response(lambda r: r.url.startswith(pdfs[0])) as landed:
            page.click(f"{SEL} a.title-pdf")
        assert landed.value.url == f"{pdfs[0]}{PID}"
        assert _clicks(filled_db, PID) == 1
        page.goto(f"{site}/arxiv/cs.LG")
        assert page.inner_text(f"{SEL} a.title-pdf") == "PDF1"  # the count, spaced by CSS
        # the long list: plain links to the next page, numbering carried on
        nav = page.locator("nav.list-pages a.more")
        assert nav.count() == 1
        nav.click()
        assert "page=2" in page.url
        assert page.locator("div.paper").count() == PAGE_SIZE
        assert page.locator(".paper .index").first.inner_text() == f"[{PAGE_SIZE + 1}]"
        assert page.locator("section.papers.continued h2").first.inner_text().endswith("continued)")


def test_long_list_loads_on_scroll_with_filter_maths_copy_and_stars(site: str, filled_db: Database) -> None:
    total = 2 + LONG_NEW + 2 + LONG_CROSS + 1
    with launched() as browser:
        for width in WIDTHS:
            ctx = browser.new_context(viewport={"width": width, "height": 900})
            page = ctx.new_page()
            problems = _watch(page)
            page.goto(f"{site}/arxiv/cs.LG")
            page.wait_for_selector("body.math-rendered")
            assert page.locator("div.paper").count() == PAGE_SIZE
            page.fill("#kw", "zebra")  # the filter set before the rest arrives applies to it too
            page.check("#kw-only")
            # scrolling to the list's end loads the next page, until the list is whole
            for _ in range(3):
                before = page.locator("div.paper").count()
                if before == total:
                    break
                page.locator("nav.list-pages").scroll_into_view_if_needed()
                expect(page.locator("div.paper")).not_to_have_count(before)
            expect(page.locator("div.paper")).to_have_count(total)
            expect(page.locator("nav.list-pages a.more")).to_have_count(0)
            numbers = page.eval_on_selector_all(".paper .index", "els => els.map(e => e.textContent)")
            assert numbers == [f"[{i}]" for i in range(1, total + 1)]  # one run through the day
            headings = page.eval_on_selector_all(
                "section.papers h2.section", "els => els.map(e => e.textContent)"
            )
            assert [h.split(" (")[0] for h in headings] == ["New submissions", "Cross-lists", "Replacements"]
            in_sections = page.evaluate(
                "() => [...document.querySelectorAll('section.papers')]"
                ".map(s => [s.id, s.querySelectorAll('.paper').length])"
            )
            assert in_sections == [["new", 2 + LONG_NEW], ["cross", 2 + LONG_CROSS], ["replaced", 1]]
            shown = page.locator("div.paper:not(.hidden-kw)")
            zebras = LONG_NEW // 2 + LONG_CROSS // 2
            assert shown.count() == zebras
            assert page.locator("#\\32 403\\.10001 mark.kw").count() == 1  # appended, highlighted
            assert page.locator("div.paper.hidden-kw#\\32 403\\.10002").count() == 1  # appended, filtered
            # maths rendered and [Copy] added on appended papers
            last_new = f"#\\32 403\\.1{LONG_NEW - 1:04d}"
            page.wait_for_selector(f"{last_new} .title-link .katex", state="attached")  # (filtered out)
            assert page.locator("button.copy").count() == total
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.uncheck("#kw-only")
            page.fill("#kw", "")
            # a star on an appended paper (page 3) is saved without leaving the page
            target = "#\\32 403\\.20015"
            page.click(f"{target} button.star-btn")
            page.wait_for_selector(f"{target} button.star-btn[aria-pressed=true]")
            assert page.url == f"{site}/arxiv/cs.LG"
            page.click(f"{target} button.star-btn")  # and off again, for the next width
            page.wait_for_selector(f"{target} button.star-btn[aria-pressed=false]")
            assert problems == [], problems
            if width == WIDTHS[-1]:
                page.screenshot(path=str(SHOTS / "papers-lazy-390.png"))
            ctx.close()
    assert filled_db.read_blocking(lambda s: s.scalar(select(Star.paper_id))) is None
