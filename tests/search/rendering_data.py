"""Data for the rendering tests (issue 10): arXiv's real snapshot lines, crafted records for what they lack.

The real records come from ``../shared/arxiv-samples/kaggle`` through the real importer; the snapshot has
no announcements, so each paper is listed on the first weekday after its v1 (in each of its categories:
"new" in the primary one, "cross" in the others), the way arXiv's daily lists would have shown them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.database import Database
from feeds.importer import import_snapshot
from feeds.models import Announcement, Paper
from search.web import pages
from search.web.catspec import parse_spec

SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "arxiv-samples" / "kaggle" / (
    "arxiv-metadata-oai-snapshot.jsonl"
)

# Real records with what issue 10 is about (found by grepping the sample):
UNBALANCED = "0704.0106"  # seven $: "up to order \cal{O}(\alpha_{s}^2)$ in deeply inelastic scattering ..."
UNDEFINED_Q = "0704.0011"  # $\Q(\sqrt{5})$ in the title and the abstract: \Q is the author's macro
UNDEFINED_RSUN = "0704.0059"  # \rsun, \msun, \kms inside and outside math
UNDEFINED_XQM = "0704.0029"  # $\XQM$
LONG_URL = "0704.0128"  # (http://www.swift.ac.uk/xrt_curves)
CHEMISTRY = "0704.0150"  # Cu$_{3}$(CO$_{3}$)$_{2}$(OH)$_{2}$: text and math with no space between

# Crafted records: what the 150 real lines do not have.
LONG_WORDS = "0704.9001"
HUGE_MATH = "0704.9002"
CURRENCY = "0704.9003"
UNDEFINED_DISPLAY = "0704.9004"
ESCAPED_DOLLAR = "0704.9005"
LONG_META = "0704.9006"

MEDIUM = "\\frac{p_{k}}{q_{k}}" * 40  # about 450 px: fits a 1280 px window's column, not a phone's

MARCH = dt.date(2007, 3, 20)
APRIL_3 = dt.date(2007, 4, 3)
APRIL_12 = dt.date(2007, 4, 12)

CRAFTED: list[dict[str, Any]] = [
    {
        "id": LONG_WORDS,
        "title": "Sequences like " + "ACGT" * 40 + " in titles",
        "abstract": "The read " + "ACGTTGCA" * 40 + " is one word, and so is the URL https://example.org/"
        + "x" * 160 + "/data.csv; both must wrap inside the abstract.",
        "authors": [
            "Hubert Blaine Wolfeschlegelsteinhausenbergerdorffvoralternwarengewissenhaft"
            "schaferswessenschafewarenwohlgepflegeundsorgfaltigkeitbeschutzenvonangreifendurch",
            "Bo Li",
        ],
        "categories": "hep-ph",
        "comments": "code at https://example.org/" + "y" * 140,
        "ann": [("hep-ph", APRIL_3, "new", 901)],
    },
    {
        "id": HUGE_MATH,
        "title": "A formula without a place to break $" + "\\frac{a_{1}}{b_{1}}" * 60 + "$",
        "abstract": "An inline formula with nowhere to break $" + "\\frac{x_{i}}{y_{i}}" * 90
        + "$ and a display one $$" + "\\sum_{i=1}^{n}\\frac{\\partial f_{i}}{\\partial x_{i}}" * 30
        + "$$ must scroll by themselves, not the page. Short maths like $a^2+b^2=c^2$ stays inline, and a "
        "formula as wide as half a laptop's column, $" + MEDIUM + "$, scrolls on a phone only.",
        "authors": ["Ann Formula"],
        "categories": "hep-ph",
        "ann": [("hep-ph", APRIL_3, "new", 902)],
    },
    {
        "id": CURRENCY,
        "title": "A cheap loss",
        "abstract": "It costs $5 to train, and the loss is $\\mathcal{L}=\\sum_i \\ell_i$ over the whole "
        "batch of inputs, which is what we report.",
        "authors": ["Cy Cost"],
        "categories": "hep-ph",
        "ann": [("hep-ph", MARCH, "new", 1)],
    },
    {
        "id": UNDEFINED_DISPLAY,
        "title": "Bounds in units of $\\Msun$ for $\\alpha<1$",
        "abstract": "We prove $$\\Rsun \\leq \\frac{1}{2}\\Msun \\sqrt{\\alpha}$$ for every star, and "
        "$\\Lsun^2 \\approx 3$.",
        "authors": ["Dee Macro"],
        "categories": "astro-ph",
        "ann": [("astro-ph", APRIL_3, "new", 904)],
    },
    {
        "id": ESCAPED_DOLLAR,
        "title": "Prices",
        "abstract": "We pay \\$10 and then \\$20 for $x^2$ units of work.",
        "authors": ["Ed Escape"],
        "categories": "hep-ph",
        "ann": [("hep-ph", APRIL_12, "new", 1)],
    },
    {
        "id": LONG_META,
        "title": "Long metadata",
        "abstract": "A short abstract.",
        "authors": ["Flo Meta"],
        "categories": "hep-ph",
        "doi": "10.1234/" + "z" * 120,
        "license": "https://creativecommons.org/licenses/" + "w" * 120,
        "journal_ref": "J." + "Q" * 120,
        "ann": [("hep-ph", APRIL_12, "new", 2)],
    },
]


def next_weekday(day: dt.date) -> dt.date:
    day += dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def load_sample(db: Database) -> int:
    """Import the real snapshot lines and list each paper the first weekday after its v1; the paper count."""
    result = import_snapshot(db, SAMPLE, batch_size=64)
    assert result.bad == 0

    def announce(session: Any) -> None:
        rows = session.execute(select(Paper.id, Paper.categories, Paper.submitted).order_by(Paper.id)).all()
        for position, (pid, categories, submitted) in enumerate(rows, 1):
            day = next_weekday(submitted.date())
            for i, cat in enumerate(categories.split()):
                session.add(Announcement(paper_id=pid, category=cat, date=day,
                                         type="new" if i == 0 else "cross", position=position))

    db.write_blocking(announce)
    return result.papers


def held_days(db: Database, category: str) -> set[dt.date]:
    """The days the database lists ``category`` on (what the calendar must link, and only those)."""
    return set(db.read_blocking(lambda s: s.scalars(
        select(Announcement.date).where(Announcement.category == category).distinct()
    ).all()))


def calendar_days(db: Database, spec: str) -> set[dt.date]:
    """The days held as the day page gets them (pages.calendar): announcements and whatever else it counts."""
    months = db.read_blocking(lambda s: pages.calendar(s, parse_spec(spec)))
    return {d for days in months.values() for d in days}


def announced_on(db: Database, paper_id: str) -> tuple[str, dt.date]:
    """(category, day) of a paper's "new" listing."""
    row = db.read_blocking(lambda s: s.execute(
        select(Announcement.category, Announcement.date)
        .where(Announcement.paper_id == paper_id, Announcement.type == "new")
    ).one())
    return row[0], row[1]
