"""The ❤ preferences in Debian's headless Chromium, behind the daemon's guard (its CSP), at 1100 and 390 px:
add keywords with the form, sort a day by ❤, see the matching paper first and the cloud drawn without
overlaps (the boxes Chromium measured, not the estimates)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from chromium import BROWSER, SHOTS, serve_guarded
from search_data import make_app
from test_browser import _page

from feeds.models import Preference

pytestmark = BROWSER


@pytest.fixture
def prefs_server(cfg, filled_db, index) -> Iterator[str]:
    with serve_guarded(make_app(cfg, filled_db, index)) as url:
        yield url


KEYWORDS = [("Schrödinger bridges", "7"), ("fairness", "2"), ("</text><script>alert(1)</script>", "4"),
            ("message passing", "1")]


@pytest.mark.parametrize("width", [1100, 390])
def test_add_keywords_then_sort_by_heart_in_chromium(prefs_server: str, filled_db: Any, width: int) -> None:
    server = prefs_server
    typed = KEYWORDS if width > 500 else KEYWORDS[:1]  # at 390 px one through the form, the rest stored
    now = dt.datetime.now(dt.UTC)
    filled_db.write_blocking(lambda s: s.add_all(
        Preference(keyword=k, weight=int(w), added_at=now) for k, w in KEYWORDS if (k, w) not in typed
    ))
    with _page(width) as page:
        dialogs: list[str] = []
        blocked: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(f"{server}/arxiv/cs.LG")
        page.click("header a[href='/preferences']")
        page.wait_for_url("**/preferences")
        for keyword, weight in typed:
            page.fill("#pref-keyword", keyword)
            page.select_option("#pref-weight", weight)
            page.click("form.pref-add button")
            page.wait_for_selector("p.message[role=status]")
        assert page.locator("table.prefs tbody tr").count() == len(KEYWORDS)
        assert page.locator("figure.cloud svg text").count() == len(KEYWORDS)
        page.screenshot(path=str(SHOTS / f"preferences-{width}.png"), full_page=True)

        page.goto(f"{server}/arxiv/cs.LG")
        page.click("p.order a:has-text('❤ preferences')")
        page.wait_for_url("**/arxiv/cs.LG?sort=pref")
        new = page.eval_on_selector_all("#new div.paper", "ps => ps.map(p => p.id)")
        assert new == ["2403.00002", "2403.00001"]  # "Schrödinger bridges as diffusion models" first
        cross = page.eval_on_selector_all("#cross div.paper", "ps => ps.map(p => p.id)")
        assert cross == ["2403.00004", "2403.00003"]  # "… Fairness audits"
        heart = page.inner_text("[id='2403.00002'] p.pref")
        assert heart == "❤ 21 Schrödinger bridges"  # weight 7 × (2 × the title's one + the abstract's one)
        cloud = page.locator("details.cloud svg")
        assert cloud.is_visible()
        boxes = page.eval_on_selector_all(
            "details.cloud svg text",
            "ts => ts.map(t => { const r = t.getBoundingClientRect(); "
            "return [r.left, r.top, r.right, r.bottom]; })",
        )
        assert len(boxes) == len(KEYWORDS)
        svg_box = cloud.bounding_box()
        assert svg_box is not None
        assert svg_box["x"] >= 0
        assert svg_box["x"] + svg_box["width"] <= width + 0.5
        for a, b in itertools.combinations(boxes, 2):
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
        for left, _top, right, _bottom in boxes:
            assert svg_box["x"] - 0.5 <= left
            assert right <= svg_box["x"] + svg_box["width"] + 0.5
        texts = page.eval_on_selector_all("details.cloud svg a", "as => as.map(a => a.textContent)")
        assert any("</text><script>alert(1)</script>" in t for t in texts)  # shown as text
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing sticks out
        page.screenshot(path=str(SHOTS / f"day-pref-{width}.png"), full_page=True)
        page.click("details.cloud svg a:has-text('fairness')")
        page.wait_for_url("**/search?q=fairness")
        assert page.locator("div.paper").count() >= 1
        assert dialogs == []
        assert blocked == []
