"""The word cloud (search.web.wordcloud): well-formed SVG, every keyword escaped, no overlaps,
deterministic."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from search.web.wordcloud import MIN_SIZE, WIDTH, cloud_svg, layout, text_width

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str | bytes) -> ET.Element:
    """Our own output, parsed to check it is well-formed (no entities are declared in it)."""
    return ET.fromstring(svg)  # noqa: S314
HOSTILE = "</text><script>alert(1)</script>"


def _texts(svg: str) -> list[ET.Element]:
    return list(parse(svg.split("?>", 1)[-1]).iter(f"{SVG}text"))


def _shown(el: ET.Element) -> str:
    """A <text>'s own words (its <title> child is the tooltip)."""
    return (el.text or "") + "".join(child.tail or "" for child in el)


def _overlaps(boxes: list[tuple[float, float, float, float]]) -> list[tuple[int, int]]:
    return [
        (i, j)
        for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2)
        if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
    ]


def test_hostile_keywords_are_text_and_the_svg_parses() -> None:
    keywords = [(HOSTILE, 9), ('a "quoted" & <b>bold</b>', 3), ("graph neural", 5), ("bell\x07\x00char", 1)]
    for standalone in (True, False):
        svg = cloud_svg(keywords, standalone=standalone)
        root = parse(svg.split("?>", 1)[-1])
        assert root.tag == f"{SVG}svg"
        assert not list(root.iter(f"{SVG}script"))
        shown = sorted(_shown(t) for t in _texts(svg))
        assert shown == sorted([HOSTILE, 'a "quoted" & <b>bold</b>', "graph neural", "bellchar"])
        assert "<script>" not in svg
        assert "&lt;/text&gt;&lt;script&gt;" in svg
    links = [a.get("href") for a in parse(cloud_svg(keywords, standalone=False)).iter(f"{SVG}a")]
    assert "/search?q=%22graph%20neural%22" in links  # a phrase is searched as a phrase
    assert "/search?q=%3C%2Ftext%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E" in links
    assert not list(parse(cloud_svg(keywords, link=False, standalone=False)).iter(f"{SVG}a"))
    # with links the cloud is a group (a role="img" would hide its links from screen readers)
    assert parse(cloud_svg(keywords, standalone=False)).get("role") == "group"
    assert parse(cloud_svg(keywords, link=False, standalone=False)).get("role") == "img"


def test_no_estimated_boxes_overlap_and_all_fit() -> None:
    keywords = [(f"{'word' * (i % 7 + 1)} {i}", i % 9 + 1) for i in range(200)]
    keywords += [("x" * 200, 9), ("図表 グラフ", 7), ("WWWW MMMM", 9)]
    placed, height = layout(keywords, {k: i % 5 for i, (k, _) in enumerate(keywords)})
    assert len(placed) == len(keywords)
    assert _overlaps([p.box for p in placed]) == []
    for p in placed:
        left, top, right, bottom = p.box
        assert 0 <= left, p
        assert right <= WIDTH, p
        assert 0 <= top, p
        assert bottom <= height, p
    long = next(p for p in placed if p.keyword == "x" * 200)
    assert long.shown.endswith("…")
    assert long.size == MIN_SIZE


def test_size_follows_weight_then_matches_and_the_layout_is_deterministic() -> None:
    keywords = [("light", 1), ("heavy", 9), ("middle", 5), ("popular", 5)]
    sizes = {p.keyword: p.size for p in layout(keywords, {"popular": 12, "middle": 1})[0]}
    assert sizes["light"] < sizes["middle"] < sizes["popular"] < sizes["heavy"]
    assert cloud_svg(keywords) == cloud_svg(list(keywords))
    assert text_width("WWW", 10) > text_width("iii", 10)


def test_an_empty_cloud_says_so() -> None:
    svg = cloud_svg([])
    assert [_shown(t) for t in _texts(svg)] == ["No preference keywords yet."]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=60), st.integers(1, 9)), max_size=40, unique_by=lambda t: t[0]
    )
)
def test_any_keywords_give_well_formed_svg_without_overlaps(keywords: list[tuple[str, int]]) -> None:
    svg = cloud_svg(keywords)
    texts = _texts(svg)  # parses
    assert not list(parse(svg.split("?>", 1)[-1]).iter(f"{SVG}script"))
    placed, _height = layout(keywords)
    assert _overlaps([p.box for p in placed]) == []
    assert len(texts) == max(1, len(placed))
