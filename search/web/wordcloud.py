"""The preference keywords as a word cloud: an SVG drawn on the server, without JavaScript or fonts to load.

Each word's font size grows with its weight and, when counts are given, with how many of
the papers at hand it matched. Words are laid out in rows (largest first, the fullest row
in the middle, rows centred), from *estimated* text widths, so the layout is deterministic
and no two estimated boxes overlap; a word too long for a row gets a smaller size and then
is cut with "…" (its link and tooltip keep the whole keyword). Every keyword is untrusted
text: it only ever reaches the SVG escaped (:func:`xml.sax.saxutils.escape`), and characters
XML cannot hold are dropped.
"""

from __future__ import annotations

import math
import unicodedata
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

__all__ = ["Placed", "cloud_svg", "layout", "text_width"]

WIDTH = 480  # narrow enough to stay legible when a 390 px phone scales it down
MIN_SIZE, MAX_SIZE = 11.0, 40.0
GAP = 10.0  # between words in a row
LINE = 1.25  # a row's height, in font sizes of its largest word
PAD = 6.0
FONT = "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif"
# one hue per weight band, readable on light and dark backgrounds
COLOURS = ("#6b7c93", "#4f7cac", "#2f8f83", "#3b8f3b", "#9a7b12", "#c0622b", "#c2410c", "#b42363", "#8e24aa")


def _xml_text(text: str) -> str:
    """``text`` without what XML 1.0 cannot hold (C0 controls but tab/newline, surrogates, U+FFFE/F)."""
    return "".join(
        c for c in text
        if (c >= " " or c in "\t\n\r") and unicodedata.category(c) != "Cs" and c not in "\ufffe\uffff"
    )


def _char_em(c: str) -> float:
    """An estimate of a character's advance in em, on the generous side for sans-serif faces."""
    if unicodedata.east_asian_width(c) in ("W", "F"):
        return 1.0
    if unicodedata.combining(c):
        return 0.0
    if c == " ":
        return 0.33
    if c in "ilj.,;:'!|()[]{}":
        return 0.36
    if c in "mwMW@%":
        return 0.95
    if c.isupper() or c.isdigit():
        return 0.72
    return 0.62


def text_width(text: str, size: float) -> float:
    """Estimated width of ``text`` at font size ``size`` (px)."""
    return sum(_char_em(c) for c in text) * size


@dataclass(frozen=True)
class Placed:
    """A word in the cloud: its keyword, the text shown, the baseline's left end, its size and box."""

    keyword: str
    shown: str
    x: float
    y: float  # baseline
    size: float
    width: float
    weight: int
    count: int | None

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The estimated box (left, top, right, bottom): ascent 0.95, descent 0.28 of the size."""
        return (self.x, self.y - 0.95 * self.size, self.x + self.width, self.y + 0.28 * self.size)


def _size(weight: int, count: int | None, most: int) -> float:
    size = MIN_SIZE + (weight - 1) * 2.8  # 11 … 33.4
    if count and most:
        size += 6.6 * math.log1p(count) / math.log1p(most)
    return min(size, MAX_SIZE)


def _fit(text: str, size: float, room: float) -> tuple[str, float]:
    """Text and size that fit ``room``: smaller first (down to the minimum), then cut with "…"."""
    width = text_width(text, size)
    if width <= room:
        return text, size
    size = max(MIN_SIZE, size * room / width)
    if text_width(text, size) <= room:
        return text, size
    cut = text
    while cut and text_width(cut + "…", size) > room:
        cut = cut[:-1]
    return cut.rstrip() + "…", size


def layout(
    keywords: Sequence[tuple[str, int]], counts: Mapping[str, int] | None = None, width: float = WIDTH
) -> tuple[list[Placed], float]:
    """Where each keyword goes, and the cloud's height. Deterministic: the same input, the same picture."""
    most = max(counts.values(), default=0) if counts else 0
    room = width - 2 * PAD
    words = []
    for keyword, weight in keywords:
        clean = " ".join(_xml_text(keyword).split())
        if not clean:
            continue
        count = counts.get(keyword, 0) if counts is not None else None
        shown, size = _fit(clean, _size(weight, count, most), room)
        words.append((keyword, shown, math.floor(size * 10) / 10, weight, count))
    words.sort(key=lambda w: (-w[2], w[0]))
    rows: list[list[tuple[str, str, float, int, int | None, float]]] = []
    used = room + 1
    for keyword, shown, size, weight, count in words:
        w = text_width(shown, size)
        if not rows or used + GAP + w > room:
            rows.append([])
            used = -GAP
        rows[-1].append((keyword, shown, size, weight, count, w))
        used += GAP + w
    # the first (largest) row in the middle, the next ones alternately above and below it
    order: list[int] = []
    for i in range(len(rows)):
        if i % 2:
            order.append(i)
        else:
            order.insert(0, i)
    placed: list[Placed] = []
    y = PAD
    for i in order:
        row = rows[i]
        tallest = max(r[2] for r in row)
        line = tallest * LINE
        baseline = y + (line - tallest * 1.23) / 2 + 0.95 * tallest
        total = sum(r[5] for r in row) + GAP * (len(row) - 1)
        x = PAD + (room - total) / 2
        for keyword, shown, size, weight, count, w in row:
            placed.append(Placed(keyword, shown, round(x, 1), round(baseline, 1), size, w, weight, count))
            x += w + GAP
        y += line
    return placed, math.ceil(y + PAD)


def cloud_svg(
    keywords: Sequence[tuple[str, int]],
    counts: Mapping[str, int] | None = None,
    *,
    link: bool = True,
    standalone: bool = True,
    width: float = WIDTH,
) -> str:
    """The cloud as SVG markup: a document (``standalone``) or an element to put in a page.

    With ``link`` each word links to a search for it (a phrase as a quoted phrase).
    """
    placed, height = layout(keywords, counts, width)
    if not placed:
        height = 40
    head = '<?xml version="1.0" encoding="UTF-8"?>\n' if standalone else ""
    role = "group" if link else "img"  # an image's links would be hidden from screen readers
    out = [
        f'{head}<svg xmlns="http://www.w3.org/2000/svg" class="cloud" viewBox="0 0 {width:g} {height}" '
        f'width="{width:g}" height="{height}" role="{role}" aria-labelledby="cloud-title" '
        f"font-family={quoteattr(FONT)}>",
        '<title id="cloud-title">Preference keywords</title>',
    ]
    if not placed:
        out.append(f'<text x="{PAD}" y="26" font-size="14" fill="#6b7c93">No preference keywords yet.</text>')
    for p in placed:
        tip = f"{p.keyword} — weight {p.weight}" + (
            f", {p.count} paper{'s' if p.count != 1 else ''}" if p.count is not None else ""
        )
        text = (
            f'<text x="{p.x:g}" y="{p.y:g}" font-size="{p.size:g}" fill="{COLOURS[(p.weight - 1) % 9]}">'
            f"<title>{escape(_xml_text(tip))}</title>{escape(p.shown)}</text>"
        )
        if link:
            query = " ".join(_xml_text(p.keyword).split())
            query = f'"{query}"' if " " in query else query
            href = "/search?q=" + urllib.parse.quote(query, safe="")
            text = f"<a href={quoteattr(href)}>{text}</a>"
        out.append(text)
    out.append("</svg>")
    return "\n".join(out) + "\n"
