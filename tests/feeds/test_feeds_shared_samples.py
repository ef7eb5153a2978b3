"""The parsers and the fetcher over arXiv's real recorded responses in ``../shared/arxiv-samples``.

Skips cleanly when that folder is absent (it lives beside the project, not in it).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from arxiv_replay import ReplayServer, Reply
from sqlalchemy import func, select

from core.config import Config
from core.database import Database
from core.errors import FeedError
from feeds.http import retry_after_seconds
from feeds.importer import import_snapshot
from feeds.models import Paper, Version
from feeds.parse_api import ApiError, parse_api
from feeds.parse_oai import parse_oai
from feeds.service import FeedService


@pytest.fixture
def samples(shared_dir: Path) -> Path:
    path = shared_dir / "arxiv-samples"
    if not path.is_dir():
        pytest.skip("../shared/arxiv-samples is absent")
    return path


def api(samples: Path, prefix: str) -> dict[str, Any]:
    (path,) = samples.glob(f"api/{prefix}_*.json")
    return json.loads(path.read_text())


def test_every_api_recording_parses_or_is_the_error_entry(samples: Path) -> None:
    seen = 0
    for path in sorted(samples.glob("api/*.json")):
        rec = json.loads(path.read_text())
        body = rec["body"].encode()
        if rec["status_code"] == 400:
            with pytest.raises(ApiError, match="incorrect id format for abc"):
                parse_api(body)
            continue
        page = parse_api(body)
        assert len(page.records) <= page.per_page
        for r in page.records:
            assert r.title_tex
            assert r.categories
            assert r.submitted
            assert r.updated
            assert r.authors
        seen += 1
    assert seen >= 15


def test_api_recordings_field_by_field(samples: Path) -> None:
    (rec,) = parse_api(api(samples, "id_1605.08386")["body"].encode()).records
    assert rec.id == "1605.08386"
    assert rec.latest_version == 1
    assert rec.title_tex == "Heat-bath random walks with Markov bases"
    assert rec.authors == ["Caprice Stanley", "Tobias Windisch"]
    assert rec.categories == ["math.CO", "math.ST"]
    assert rec.comments == "20 pages, 3 figures"
    empty = parse_api(api(samples, "id_0000.0000")["body"].encode())
    assert empty.total == 0
    assert empty.records == []
    two = parse_api(api(samples, "id_0808.05394_1707.08567")["body"].encode())
    assert [r.id for r in two.records] == ["1707.08567"]  # the malformed id is simply absent
    doi = parse_api(api(samples, "q_testing_s0_m10")["body"].encode()).records[0]
    assert doi.doi == "10.1109/ICSTW55395.2022.00035"
    assert doi.journal_ref.startswith("Artificial Intelligence")


def test_api_paging_windows_agree(samples: Path) -> None:
    def ids(prefix: str) -> list[str]:
        return [r.id for r in parse_api(api(samples, prefix)["body"].encode()).records]

    assert ids("q_testing_s0_m15") == ids("q_testing_s0_m10") + ids("q_testing_s10_m10")[:5]
    assert ids("q_testing_s5_m10") == ids("q_testing_s0_m15")[5:15]


async def test_fetch_now_over_recorded_answers(
    samples: Path, replay: ReplayServer, cfg: Config, sqlite_db: Database
) -> None:
    replay.add(
        "/api/query",
        Reply(body=api(samples, "id_0808.05394_1707.08567")["body"].encode()),
        Reply(400, api(samples, "id_abc")["body"].encode()),
    )
    async with FeedService(cfg, sqlite_db, min_interval_s=0.05) as svc:
        assert await svc.fetch_now(["0808.05394", "1707.08567"]) == ["1707.08567"]
        with pytest.raises(FeedError, match="incorrect id format"):
            await svc.fetch_now(["2401.00001"])
    paper = sqlite_db.read_blocking(lambda s: s.get(Paper, "1707.08567"))
    assert len(paper.authors) == 34
    assert paper.primary_category == "cs.IT"


def _oai_exchange(samples: Path) -> list[dict[str, Any]]:
    return json.loads(
        (samples / "oai/oaipmh-listrecords---should-list-identifiers-from-arxiv.json").read_text()
    )


def test_oai_recorded_listrecords(samples: Path) -> None:
    busy, ok = _oai_exchange(samples)
    assert busy["status"] == 503
    headers = dict(zip(busy["rawHeaders"][::2], busy["rawHeaders"][1::2], strict=True))
    assert retry_after_seconds(headers["Retry-After"]) == 10
    page = parse_oai(ok["response"].encode())
    assert [r.id for r in page.records] == ["1412.8544", "hep-th/9504118"]
    ks = page.records[0]
    assert ks.authors == ["Sander Uijlen", "Bas Westerbaan"]
    assert ks.doi == "10.4204/EPTCS.172.11"
    assert ks.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert page.records[1].report_no == "GOET-TP 101/95"
    assert page.resumption_token is None


async def test_backfill_replays_the_recorded_503_then_records(
    samples: Path, replay: ReplayServer, cfg: Config, sqlite_db: Database
) -> None:
    busy, ok = _oai_exchange(samples)
    # the recording says Retry-After: 10; it is shortened to 1 s so the suite stays fast
    replay.add(
        "/oai",
        Reply(busy["status"], busy["response"].encode(), {"Retry-After": "1"}, content_type="text/html"),
        Reply(ok["status"], ok["response"].encode(), content_type="text/xml"),
    )
    async with FeedService(cfg, sqlite_db, min_interval_s=0.05) as svc:
        n = await svc.backfill(dt.date(2015, 1, 1), dt.date(2015, 1, 3), ["cs.DM"], prefix="arXiv")
    assert n == 2
    hits = replay.hits_for("/oai")
    assert hits[1].at - hits[0].at >= 0.98
    assert hits[0].query["metadataPrefix"] == ["arXiv"]
    assert hits[0].query["set"] == ["cs:cs:DM"]


def test_the_kaggle_sample_imports_whole_and_clean(samples: Path, sqlite_db: Database) -> None:
    path = samples / "kaggle/arxiv-metadata-oai-snapshot.jsonl"
    result = import_snapshot(sqlite_db, path, batch_size=64)
    assert (result.papers, result.bad) == (150, 0)
    first = sqlite_db.read_blocking(lambda s: s.get(Paper, "0704.0001"))
    assert first.authors[0] == "C. Balázs"
    assert first.authors_tex.startswith("C. Bal\\'azs")
    assert (
        first.title == "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    )
    assert "\n" not in first.abstract.split("\n")[0]
    assert first.abstract.startswith("A fully differential")
    n_versions = sum(len(json.loads(line)["versions"]) for line in path.read_text().splitlines())
    assert (
        sqlite_db.read_blocking(lambda s: s.scalar(select(func.count()).select_from(Version))) == n_versions
    )
    accent = re.compile(r"\\[\"'`^~=.][A-Za-z{]")
    authors = sqlite_db.read_blocking(lambda s: [a for p in s.scalars(select(Paper)) for a in p.authors])
    assert not [a for a in authors if accent.search(a)]
