"""Parsers against the project's fixtures in arXiv's real formats, and against hostile bytes."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest
from arxiv_replay import FIXTURES, fixture

from core.errors import ParseError
from feeds.parse_api import ApiError, parse_api
from feeds.parse_oai import OaiError, parse_oai
from feeds.parse_rss import announce_date_of, parse_feed
from feeds.snapshot import MAX_LINE_BYTES, BadLine, SnapshotReader

UTC = dt.UTC


# ---------------------------------------------------------------- daily feed


def test_rss_day_has_every_announce_type_and_the_feeds_date() -> None:
    day = parse_feed(fixture("rss_cs.LG_2024-01-15.xml"), "cs.LG")
    assert day.announce_date == dt.date(2024, 1, 15)
    assert [(a.paper_id, a.type, a.position) for a in day.announcements] == [
        ("2401.07001", "new", 0),
        ("2401.07002", "new", 1),
        ("2401.06500", "cross", 2),
        ("2312.01234", "replace", 3),
        ("2311.04321", "replace-cross", 4),
    ]
    assert {a.category for a in day.announcements} == {"cs.LG"}
    assert day.type_counts() == {"new": 2, "cross": 1, "replace": 1, "replace-cross": 1}
    assert not day.rejected


def test_rss_fields_are_read_and_marked_partial() -> None:
    recs = {r.id: r for r in parse_feed(fixture("rss_cs.LG_2024-01-15.xml"), "cs.LG").records}
    schr = recs["2401.07002"]
    assert schr.title_tex == 'Learning the Schr\\"odinger Equation with G\\"{o}del Machines'
    assert schr.abstract_tex.startswith("Neural solvers for the time-dependent")
    assert "Announce Type" not in schr.abstract_tex
    assert schr.authors == ["Jürgen Schmidhuber", "Balázs Szegedy"]
    assert schr.categories == ["cs.LG", "quant-ph"]
    assert schr.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert schr.partial
    assert schr.comments is None
    assert schr.submitted is None
    assert recs["2401.06500"].doi == "10.1000/example.2024.06500"
    assert recs["2312.01234"].journal_ref == "J. Mach. Learn. Res. 25 (2024) 1-40"
    assert recs["2312.01234"].latest_version == 2
    assert recs["2311.04321"].versions == [(3, None, None)]


def test_atom_feed_parses_like_rss() -> None:
    day = parse_feed(fixture("atom_cs.LG_2024-01-16.xml"), "cs.LG")
    assert day.announce_date == dt.date(2024, 1, 16)
    assert [(a.paper_id, a.type) for a in day.announcements] == [
        ("2401.08001", "new"),
        ("2401.07001", "replace"),
        ("2401.06900", "cross"),
    ]
    rec = {r.id: r for r in day.records}["2401.06900"]
    assert rec.doi == "10.1000/example.2024.06900"
    assert rec.journal_ref == "Bioinformatics 40 (2024) btad001"
    assert rec.categories == ["q-bio.BM", "cs.CL", "cs.LG"]


@pytest.mark.parametrize(
    ("stamp", "day"),
    [
        ("2024-01-15T00:00:00-05:00", dt.date(2024, 1, 15)),  # built at midnight ET
        ("2024-01-15T05:00:00+00:00", dt.date(2024, 1, 15)),  # same instant in UTC
        ("2024-01-14T20:30:00-05:00", dt.date(2024, 1, 15)),  # built right after Sunday's 20:00 mailing
        ("2024-07-15T03:59:00+00:00", dt.date(2024, 7, 15)),  # summer: 23:59 EDT on the 14th is after 20:00
    ],
)
def test_announce_date_is_arxivs_listing_day(stamp: str, day: dt.date) -> None:
    assert announce_date_of(dt.datetime.fromisoformat(stamp)) == day


def test_empty_weekend_feed_is_empty_not_an_error() -> None:
    day = parse_feed(fixture("atom_empty_2024-01-20.xml"), "cs.LG")
    assert day.empty
    assert day.announce_date == dt.date(2024, 1, 20)


def test_feed_error_for_unknown_category() -> None:
    with pytest.raises(ParseError, match="Feed error"):
        parse_feed(fixture("atom_feed_error.xml"), "cs.XX")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (fixture("html_error.html"), "HTML page"),
        (fixture("rss_cs.LG_2024-01-15.xml")[:3000], "malformed"),
        (
            b"<?xml version='1.0'?><!DOCTYPE r [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;'>]><rss>&b;</rss>",
            "DOCTYPE",
        ),
        (b"\x00\x01\x02 binary junk", "malformed|not an RSS"),
        (b"<note>hello</note>", "not an RSS"),
    ],
)
def test_bad_feed_bytes_are_parse_errors(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_feed(body, "cs.LG")


def test_one_bad_entry_is_skipped_and_reported() -> None:
    xml = fixture("atom_cs.LG_2024-01-16.xml").replace(
        b"oai:arXiv.org:2401.08001v1", b"oai:arXiv.org:garbage"
    )
    day = parse_feed(xml, "cs.LG")
    assert [r.id for r in day.records] == ["2401.07001", "2401.06900"]
    assert len(day.rejected) == 1
    assert "garbage" in day.rejected[0]


def test_unknown_announce_type_is_rejected() -> None:
    xml = fixture("atom_cs.LG_2024-01-16.xml").replace(
        b">replace</arxiv:announce_type>", b">deleted</arxiv:announce_type>"
    )
    day = parse_feed(xml, "cs.LG")
    assert "2401.07001" not in {r.id for r in day.records}
    assert any("deleted" in r for r in day.rejected)


# ---------------------------------------------------------------- API


def test_api_batch_has_complete_records() -> None:
    page = parse_api(fixture("api_2024-01-15_details.xml"))
    assert (page.total, page.start, page.per_page) == (5, 0, 5)
    recs = {r.id: r for r in page.records}
    gd = recs["2312.01234"]
    assert gd.latest_version == 2
    assert not gd.partial
    assert gd.submitted == dt.datetime(2023, 12, 2, 10, 0, tzinfo=UTC)
    assert gd.updated == dt.datetime(2024, 1, 12, 11, 11, 11, tzinfo=UTC)
    assert [v[0] for v in gd.versions] == [1, 2]
    assert gd.comments == "v2: corrected Lemma 3"
    assert recs["2311.04321"].categories == ["stat.ML", "cs.LG", "math.ST"]  # primary first
    assert recs["2401.06500"].categories[0] == "cs.CV"
    assert recs["2401.07002"].authors == ["Jürgen Schmidhuber", "Balázs Szegedy"]


def test_api_error_entry_is_an_error() -> None:
    with pytest.raises(ApiError, match=r"incorrect id format for 2401\.0700x"):
        parse_api(fixture("api_error.xml"))


def test_api_empty_result() -> None:
    page = parse_api(fixture("api_empty.xml"))
    assert page.total == 0
    assert page.records == []


@pytest.mark.parametrize(
    "body",
    [b"", fixture("html_error.html"), fixture("api_2401.07002.xml")[:900], b"<rss version='2.0'></rss>"],
)
def test_api_bad_bytes(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_api(body)


# ---------------------------------------------------------------- OAI-PMH


def test_oai_raw_page_has_version_history_and_token() -> None:
    page = parse_oai(fixture("oai_raw_page1.xml"))
    assert page.resumption_token == "6960524|1001"
    gd, dirac = page.records
    assert gd.id == "2312.01234"
    assert gd.latest_version == 2
    assert gd.versions == [
        (1, dt.datetime(2023, 12, 2, 10, 0, tzinfo=UTC), "512kb"),
        (2, dt.datetime(2024, 1, 12, 11, 11, 11, tzinfo=UTC), "530kb"),
    ]
    assert gd.authors == ["Emmy Noether", "John von Neumann"]
    assert dirac.id == "hep-th/9901001"
    assert dirac.report_no == "DAMTP-99-01"


def test_oai_last_page_and_deleted_records() -> None:
    page = parse_oai(fixture("oai_raw_page2.xml"))
    assert page.resumption_token is None
    assert [r.id for r in page.records] == ["1406.2661"]
    assert page.deleted == ["oai:arXiv.org:2401.00001"]


def test_oai_no_records_is_an_empty_page() -> None:
    page = parse_oai(fixture("oai_no_records.xml"))
    assert page.records == []
    assert page.resumption_token is None


def test_oai_error_codes_are_errors() -> None:
    with pytest.raises(OaiError, match="badResumptionToken") as info:
        parse_oai(fixture("oai_bad_token.xml"))
    assert info.value.code == "badResumptionToken"


# ---------------------------------------------------------------- snapshot


def _records(path: Path) -> list[object]:
    with SnapshotReader(path) as reader:
        return [item for _, item in reader.records()]


def test_snapshot_lines_become_complete_records() -> None:
    recs = _records(FIXTURES / "snapshot_small.jsonl")
    assert [r.id for r in recs] == ["0704.0001", "1406.2661", "hep-th/9901001", "2312.01234"]  # type: ignore[attr-defined]
    first = recs[0]
    assert first.authors == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C.-P. Yuan"]  # type: ignore[attr-defined]
    assert first.versions[1] == (2, dt.datetime(2007, 7, 24, 20, 10, 27, tzinfo=UTC), None)  # type: ignore[attr-defined]
    assert first.report_no == "ANL-HEP-PR-07-12"  # type: ignore[attr-defined]


def test_snapshot_bad_lines_are_numbered_and_explained() -> None:
    items = _records(FIXTURES / "snapshot_bad_lines.jsonl")
    bad = [i for i in items if isinstance(i, BadLine)]
    good = [i for i in items if not isinstance(i, BadLine)]
    assert [g.id for g in good] == ["1406.2661", "2401.06769"]  # type: ignore[attr-defined]
    assert [b.line_no for b in bad] == [2, 3, 4, 5, 6, 7, 8]
    reasons = " | ".join(b.reason for b in bad)
    for needle in (
        "not valid JSON",
        "expected a JSON object",
        "not an arXiv id",
        "versions",
        "bad date",
        "not an arXiv category",
    ):
        assert needle in reasons


def test_snapshot_gzip_is_detected_by_content(tmp_path: Path) -> None:
    gz = tmp_path / "snapshot.jsonl.data"  # no .gz suffix on purpose
    gz.write_bytes(gzip.compress((FIXTURES / "snapshot_small.jsonl").read_bytes()))
    assert [r.id for r in _records(gz)] == [r.id for r in _records(FIXTURES / "snapshot_small.jsonl")]  # type: ignore[attr-defined]


def test_snapshot_giant_line_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "giant.jsonl"
    good = (FIXTURES / "snapshot_small.jsonl").read_bytes().splitlines(keepends=True)[1]
    with path.open("wb") as fh:
        fh.write(b'{"id": "' + b"9" * (MAX_LINE_BYTES + 10) + b'"}\n')
        fh.write(good)
    items = _records(path)
    assert isinstance(items[0], BadLine)
    assert "longer than" in items[0].reason
    assert items[1].id == "1406.2661"  # type: ignore[attr-defined]


def test_snapshot_nul_and_wrong_types(tmp_path: Path) -> None:
    base = json.loads((FIXTURES / "snapshot_small.jsonl").read_text().splitlines()[1])
    lines = [
        dict(base, title="bad\u0000title"),
        dict(base, title=42),
        dict(base, versions="v1"),
        dict(base, id=None),
    ]
    path = tmp_path / "types.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    items = _records(path)
    assert all(isinstance(i, BadLine) for i in items)
