"""The pages in a real headless Chromium (Debian's), driven by Playwright: read, search, open, star.

Screenshots go to ``screenshots/`` at the project root (git-ignored) for a person to look at.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import ARGS, BROWSER, CHROMIUM, SHOTS, serve_guarded
from search_data import make_app

pytestmark = BROWSER


@pytest.fixture
def server(cfg, filled_db, index) -> Iterator[str]:
    with serve_guarded(make_app(cfg, filled_db, index)) as url:
        yield url


@contextlib.contextmanager
def _page(width: int, server: str | None = None, **context: Any) -> Iterator[Any]:
    """A fresh Chromium page at ``width`` px (clipboard permissions for ``server`` when given)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            ctx = browser.new_context(viewport={"width": width, "height": 900}, **context)
            if server is not None:
                ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
            yield ctx.new_page()
        finally:
            browser.close()


def test_read_search_open_star_in_chromium(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    dialogs: list[str] = []
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            args=ARGS,
            headless=True,
            viewport={"width": 1100, "height": 900},
        )
        try:
            page = ctx.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            blocked: list[str] = []  # KaTeX and papers.js must need nothing the CSP forbids
            page.on(
                "console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None
            )
            page.goto(f"{server}/arxiv/cs.LG")
            assert page.locator("div.paper").count() == 5
            page.wait_for_selector("body.math-rendered")
            assert (
                page.locator("#\\32 403\\.00001 .summary .katex").count() == 1
            )  # $\alpha \leq \beta$ rendered
            assert "<script>alert('x')</script> Fairness audits" in page.inner_text("body")
            page.fill("#kw", "diffusion, graph")
            page.check("#kw-only")
            assert page.locator("div.paper:not(.hidden-kw)").count() == 3
            assert page.locator("mark.kw").count() >= 3
            page.screenshot(path=str(SHOTS / "papers-day.png"), full_page=True)
            page.press("#kw", "Enter")  # the bar filters in place: no submit, no navigation
            assert page.url == f"{server}/arxiv/cs.LG"
            page.uncheck("#kw-only")
            page.fill("#kw", "")

            page.fill("header input[name=q]", "images")
            page.press("header input[name=q]", "Enter")
            page.wait_for_url("**/search?q=images")
            assert page.locator("div.paper").count() == 2
            assert page.locator("div.paper mark").count() >= 2
            page.screenshot(path=str(SHOTS / "papers-search.png"), full_page=True)

            page.click("#\\32 403\\.00001 a.title-link")
            page.wait_for_url("**/arxiv/2403.00001")
            assert page.inner_text("h1.title").startswith("Graph neural networks")
            assert page.get_attribute("a.title-pdf", "href") == "/go/pdf/2403.00001"  # counts, then arXiv
            assert page.get_attribute("a.title-pdf", "data-pdf") == "https://arxiv.org/pdf/2403.00001"
            page.click("button.star-btn")
            page.wait_for_selector("button.star-btn[aria-pressed=true]")
            page.screenshot(path=str(SHOTS / "papers-paper.png"), full_page=True)
            page.goto(f"{server}/stars")
            assert page.locator("div.paper").count() == 1
            page.screenshot(path=str(SHOTS / "papers-stars.png"), full_page=True)
            assert blocked == []
        finally:
            ctx.close()
    assert dialogs == []  # no script from a title ever ran


def test_reading_and_starring_work_without_javascript(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path / "profile-nojs"),
            executable_path=str(CHROMIUM),
            args=ARGS,
            headless=True,
            java_script_enabled=False,
        )
        try:
            page = ctx.new_page()
            page.goto(f"{server}/arxiv/cs.LG")
            assert "$\\alpha \\leq \\beta$" in page.inner_text("#\\32 403\\.00002 ~ div, body")
            page.click("#\\32 403\\.00003 button.star-btn")  # a plain form POST, then a redirect back
            page.wait_for_load_state()
            assert "/arxiv/cs.LG" in page.url
            assert page.locator("#\\32 403\\.00003 button.star-btn").inner_text() == "★"
            page.goto(f"{server}/stars")
            assert page.locator("div.paper").count() == 1
        finally:
            ctx.close()


@pytest.mark.parametrize("width", [1100, 390])
def test_citation_tags_and_files_in_chromium(server: str, width: int) -> None:
    """What Zotero's connector reads (the citation_* tags, as the DOM has them) and the BibTeX download."""
    with _page(width, accept_downloads=True) as page:
        page.goto(f"{server}/arxiv/2403.00001")
        tags = page.evaluate(
            "[...document.querySelectorAll('meta[name^=citation_]')].map(m => [m.name, m.content])"
        )
        assert ["citation_title", "Graph neural networks for images"] in tags
        assert [c for n, c in tags if n == "citation_author"] == ["Ana Müller", "Bo Li"]
        assert ["citation_pdf_url", "https://arxiv.org/pdf/2403.00001"] in tags
        link = page.locator("a.cite-bib")
        box = link.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width  # reachable without scrolling sideways at 390 px
        with page.expect_download() as got:
            link.click()
        text = Path(got.value.path()).read_text()
        assert text.startswith("@misc{arXiv:2403.00001,")
        assert "author = {Ana Müller and Bo Li}" in text
        page.screenshot(path=str(SHOTS / f"paper-cite-{width}.png"))


@pytest.mark.parametrize("width", [1100, 390])
def test_bookmarklet_opens_an_arxiv_address_here_in_chromium(server: str, width: int) -> None:
    """The bookmarklet's own code, and the form, land on this instance's page for an arXiv address."""
    with _page(width) as page:
        page.goto(f"{server}/redirect")
        code = page.locator("a.bookmarklet").get_attribute("href") or ""
        assert code.startswith("javascript:")
        page.goto(f"{server}/redirect?url=" + "https%3A%2F%2Farxiv.org%2Fabs%2F2403.00001v2")
        assert page.url == f"{server}/arxiv/2403.00001"
        assert "Graph neural networks for images" in page.inner_text("h1")
        page.goto(f"{server}/redirect")
        page.fill("input[name=url]", "https://arxiv.org/list/cs.LG/new")
        page.click("form.redirect-form button")
        assert page.url == f"{server}/arxiv/cs.LG"
        # the bookmarklet as if clicked on arXiv's PDF page: its location is that address
        page.evaluate(code.removeprefix("javascript:").replace("location.href)", "'https://arxiv.org/pdf/2403.00002')"))
        page.wait_for_url(f"{server}/arxiv/2403.00002")
        page.screenshot(path=str(SHOTS / f"redirect-{width}.png"))


def _many_authors(filled_db: Any) -> None:
    from search_data import DAY, insert_papers

    insert_papers(filled_db, [{
        "id": "2403.00077",
        "title": "A collaboration paper on graph lattices",
        "abstract": "Forty-five of us measured graph images.",
        "authors": [f"Author{i:02d} Person" for i in range(44)] + ["Zoë Ångström"],
        "categories": "cs.LG",
        "ann": [("cs.LG", DAY, "new", 9)],
    }])


@pytest.mark.parametrize("width", [1100, 390])
def test_reading_aids_in_chromium(server: str, filled_db: Any, width: int) -> None:
    """et al. expands (without JavaScript too), the keyword bar's AND/OR and accents, and [Copy]."""
    _many_authors(filled_db)
    with _page(width, server) as page:
        page.goto(f"{server}/arxiv/cs.LG")
        page.wait_for_function("document.body.classList.contains('math-rendered')")
        big = page.locator("[id='2403.00077']")
        hidden = big.get_by_text("Zoë Ångström")
        assert not hidden.is_visible()  # the 45th author is behind "et al."
        big.locator("details.etal summary").click()
        assert hidden.is_visible()
        # keywords: any word (default) vs all words, accent-insensitive both ways
        page.fill("#kw", "angstrom")
        page.check("#kw-only")
        shown = lambda: page.eval_on_selector_all(  # noqa: E731
            ".paper:not(.hidden-kw)", "ps => ps.map(p => p.id)")
        assert shown() == ["2403.00077"]
        assert big.locator("mark.kw").first.inner_text() == "Ångström"
        page.fill("#kw", "muller, images")
        assert set(shown()) == {"2403.00001", "2403.00077"}  # muller OR images
        page.select_option("#kw-mode", "and")
        assert shown() == ["2403.00001"]  # Ana Müller AND "images"
        assert page.locator("[id='2403.00001'] mark.kw", has_text="Müller").count() == 1  # typed muller
        page.fill("#kw", "")
        page.uncheck("#kw-only")
        # [Copy] keeps the page's selection and puts the paper on the clipboard
        page.evaluate("""() => {
            const t = document.querySelector("[id='2403.00002'] .summary");
            const r = document.createRange(); r.selectNodeContents(t);
            getSelection().removeAllRanges(); getSelection().addRange(r);
        }""")
        before = page.evaluate("getSelection().toString()")
        page.locator("[id='2403.00001'] button.copy").click()
        page.locator("[id='2403.00001'] button.copy", has_text="Copied").wait_for()
        clip = page.evaluate("navigator.clipboard.readText()")
        assert clip.splitlines()[0] == "Graph neural networks for images"
        assert clip.splitlines()[1] == "Ana Müller, Bo Li"
        assert "$\\alpha \\leq \\beta$" in clip  # the TeX, not KaTeX's markup
        assert clip.splitlines()[-1] == "https://arxiv.org/abs/2403.00001"
        assert page.evaluate("getSelection().toString()") == before
        page.screenshot(path=str(SHOTS / f"reading-aids-{width}.png"), full_page=True)
