"""For you in a real headless Chromium: the order link on a day list, the /foryou page, at 1100 and 390 px."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import BROWSER, SHOTS, serve_guarded
from foryou_data import TOPICS, fill
from search_data import make_app
from test_browser import _page

from core.config import Config
from core.database import Database
from search.index import SearchIndex

pytestmark = BROWSER


@pytest.fixture
def topic_server(cfg: Config, db: Database, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    topics = fill(db)
    ix = SearchIndex(tmp_path / "index").open()
    ix.reindex(db)
    with serve_guarded(make_app(cfg, db, ix)) as url:
        yield url, topics
    ix.close()


@pytest.mark.parametrize("width", [1100, 390])
def test_for_you_in_chromium(topic_server: tuple[str, dict[str, str]], width: int) -> None:
    server, topics = topic_server
    with _page(width) as page:
        page.goto(f"{server}/arxiv/cs.LG")
        page.locator("p.order a", has_text="For you").click()
        page.wait_for_url("**sort=foryou*")
        first = page.locator("section.papers .paper").first
        assert topics[first.get_attribute("id") or ""] == "diffusion"
        page.locator("header.top a", has_text="For you").click()
        page.wait_for_url("**/foryou")
        ids = page.eval_on_selector_all("section.papers .paper", "els => els.map(e => e.id)")
        assert [topics[i] for i in ids[:5]] == ["diffusion"] * 5
        because = page.locator(".paper .because").first
        assert because.is_visible()
        text = because.inner_text()
        assert text.startswith("because: ")
        assert text.removeprefix("because: ").split(", ")[0] in TOPICS["diffusion"]
        box = because.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing wider than the screen
        page.screenshot(path=str(SHOTS / f"foryou-{width}.png"))
