"""FeedService end to end against the replay server: the day's crawl, on-demand fetch, backfill, the loop."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from arxiv_replay import ReplayServer, Reply, fixture
from feeds_testkit import make_config
from sqlalchemy import func, select

from core.config import Config
from core.database import Database
from core.errors import FeedError, InputError, ParseError
from feeds.models import Announcement, CrawlRun, HttpCache, Paper
from feeds.parse_rss import EASTERN
from feeds.service import FeedService

FEED = "/atom/cs.LG"
API = "/api/query"
OAI = "/oai"
XML = "application/atom+xml; charset=utf-8"


class Recorder:
    """An on_commit that also checks the ids are already committed when it is called."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.calls: list[list[str]] = []
        self.visible: list[bool] = []

    async def __call__(self, ids: list[str]) -> None:
        self.calls.append(list(ids))
        found = await self.db.read(
            lambda s: s.scalar(select(func.count()).select_from(Paper).where(Paper.id.in_(ids)))
        )
        self.visible.append(found == len(set(ids)))


@pytest.fixture
async def service(cfg: Config, sqlite_db: Database) -> AsyncIterator[FeedService]:
    svc = FeedService(cfg, sqlite_db, Recorder(sqlite_db), min_interval_s=0.05)
    yield svc
    await svc.aclose()


def count(db: Database, model: type) -> int:
    return db.read_blocking(lambda s: s.scalar(select(func.count()).select_from(model)))


def runs(db: Database) -> list[tuple[str, str, str]]:
    return db.read_blocking(
        lambda s: [(r.kind, r.key, r.status) for r in s.scalars(select(CrawlRun).order_by(CrawlRun.id))]
    )


async def test_a_day_is_crawled_then_completed_from_the_api(
    replay: ReplayServer, service: FeedService, sqlite_db: Database
) -> None:
    replay.add(FEED, Reply(body=fixture("rss_cs.LG_2024-01-15.xml")))
    replay.add(API, Reply(body=fixture("api_2024-01-15_details.xml")))
    result = await service.crawl_category("cs.LG")
    assert (result.status, result.announce_date, result.entries) == ("ok", dt.date(2024, 1, 15), 5)
    papers = sqlite_db.read_blocking(lambda s: {p.id: p for p in s.scalars(select(Paper))})
    assert set(papers) == {"2401.07001", "2401.07002", "2401.06500", "2312.01234", "2311.04321"}
    assert {p.source for p in papers.values()} == {"api"}
    assert papers["2401.07002"].comments == "Code: https://example.org/schroedinger"
    assert count(sqlite_db, Announcement) == 5
    api_hit = replay.hits_for(API)[0]
    assert api_hit.query["id_list"] == [",".join(sorted(papers))]
    rec: Recorder = service.on_commit  # type: ignore[assignment]
    assert len(rec.calls) == 2
    assert all(rec.visible)
    assert runs(sqlite_db) == [("rss", "cs.LG", "ok")]


async def test_the_same_feed_again_is_stale_and_writes_nothing(
    replay: ReplayServer, service: FeedService, sqlite_db: Database
) -> None:
    replay.add(FEED, Reply(body=fixture("rss_cs.LG_2024-01-15.xml")))
    replay.add(API, Reply(body=fixture("api_2024-01-15_details.xml")))
    await service.crawl_category("cs.LG")
    before = sqlite_db.read_blocking(lambda s: [(p.id, p.fetched_at) for p in s.scalars(select(Paper))])
    again = await service.crawl_category("cs.LG")
    assert again.status == "stale"
    assert again.announce_date == dt.date(2024, 1, 15)
    assert (
        sqlite_db.read_blocking(lambda s: [(p.id, p.fetched_at) for p in s.scalars(select(Paper))]) == before
    )
    assert len(replay.hits_for(API)) == 1


async def test_conditional_get_makes_an_unchanged_feed_cheap(
    replay: ReplayServer, service: FeedService, sqlite_db: Database
) -> None:
    replay.add(FEED, Reply(body=fixture("atom_cs.LG_2024-01-16.xml"), headers={"ETag": '"d16"'}))
    replay.add(API, Reply(body=fixture("api_empty.xml")))
    assert (await service.crawl_category("cs.LG")).status == "ok"
    assert (
        sqlite_db.read_blocking(lambda s: s.get(HttpCache, service.arxiv.feed_url("cs.LG")).etag) == '"d16"'
    )
    assert (await service.crawl_category("cs.LG")).status == "unchanged"
    assert replay.hits_for(FEED)[1].headers["if-none-match"] == '"d16"'


async def test_the_feed_moving_on_brings_replacements_and_cross_lists(
    replay: ReplayServer, service: FeedService, sqlite_db: Database
) -> None:
    replay.add(
        FEED,
        Reply(body=fixture("rss_cs.LG_2024-01-15.xml")),
        Reply(body=fixture("atom_cs.LG_2024-01-16.xml")),
    )
    replay.add(API, Reply(body=fixture("api_2024-01-15_details.xml")), Reply(body=fixture("api_empty.xml")))
    await service.crawl_category("cs.LG")
    day2 = await service.crawl_category("cs.LG")
    assert (day2.status, day2.announce_date) == ("ok", dt.date(2024, 1, 16))
    p = sqlite_db.read_blocking(lambda s: s.get(Paper, "2401.07001"))
    assert p.latest_version == 2
    assert len(p.announcements) == 2
    assert count(sqlite_db, Paper) == 7
    assert replay.hits_for(API)[1].query["id_list"] == ["2401.06900,2401.07001,2401.08001"]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(body=fixture("html_error.html"), content_type="text/html"), "HTML page"),
        (Reply(body=fixture("rss_cs.LG_2024-01-15.xml")[:2500]), "malformed XML"),
        (Reply(body=fixture("atom_feed_error.xml")), "Feed error"),
        (Reply(404, b"no such feed", content_type="text/plain"), "HTTP 404"),
        (Reply(503, b"busy", {"Retry-After": "0"}), "gave up"),
    ],
)
async def test_a_bad_answer_writes_nothing_but_the_failed_run(
    replay: ReplayServer, service: FeedService, sqlite_db: Database, reply: Reply, error: str
) -> None:
    replay.add(FEED, reply)
    with pytest.raises(FeedError, match=error):
        await service.crawl_category("cs.LG")
    assert count(sqlite_db, Paper) == 0
    assert count(sqlite_db, Announcement) == 0
    assert count(sqlite_db, HttpCache) == 0
    assert runs(sqlite_db) == [("rss", "cs.LG", "error")]
    assert not replay.hits_for(API)


async def test_503_then_success(replay: ReplayServer, service: FeedService, sqlite_db: Database) -> None:
    replay.add(
        FEED,
        Reply(503, b"<h1>Retry after 1 seconds</h1>", {"Retry-After": "1"}, content_type="text/html"),
        Reply(body=fixture("rss_cs.LG_2024-01-15.xml")),
    )
    replay.add(API, Reply(body=fixture("api_2024-01-15_details.xml")))
    assert (await service.crawl_category("cs.LG")).status == "ok"
    assert replay.hits[1].at - replay.hits[0].at >= 0.98


async def test_empty_weekend_feed(replay: ReplayServer, service: FeedService, sqlite_db: Database) -> None:
    replay.add(FEED, Reply(body=fixture("atom_empty_2024-01-20.xml")))
    result = await service.crawl_category("cs.LG")
    assert (result.status, result.announce_date) == ("empty", dt.date(2024, 1, 20))
    assert count(sqlite_db, Paper) == 0


async def test_api_failure_after_the_feed_keeps_the_day(
    replay: ReplayServer, service: FeedService, sqlite_db: Database
) -> None:
    replay.add(FEED, Reply(body=fixture("rss_cs.LG_2024-01-15.xml")))
    replay.add(API, Reply(503, b"down", {"Retry-After": "0"}))
    result = await service.crawl_category("cs.LG")
    assert result.status == "ok"
    assert "details pending" in result.detail
    assert sqlite_db.read_blocking(lambda s: {p.source for p in s.scalars(select(Paper))}) == {"rss"}


async def test_a_failing_listener_does_not_undo_the_crawl(
    replay: ReplayServer, cfg: Config, sqlite_db: Database
) -> None:
    async def broken(ids: list[str]) -> None:
        raise RuntimeError("index is on fire")

    replay.add(FEED, Reply(body=fixture("atom_cs.LG_2024-01-16.xml")))
    replay.add(API, Reply(body=fixture("api_empty.xml")))
    async with FeedService(cfg, sqlite_db, broken, min_interval_s=0.05) as svc:
        assert (await svc.crawl_category("cs.LG")).status == "ok"
    assert count(sqlite_db, Paper) == 3


# ---------------------------------------------------------------- on demand


async def test_fetch_now_gets_what_is_missing(
    replay: ReplayServer, service: FeedService, sqlite_db: Database
) -> None:
    replay.add(API, Reply(body=fixture("api_2401.07002.xml")))
    found = await service.fetch_now(["arXiv:2401.07002v1", "https://arxiv.org/abs/2401.99999", "2401.7002"])
    assert found == ["2401.07002"]
    assert replay.hits_for(API)[0].query["id_list"] == ["2401.07002,2401.99999"]
    assert await service.fetch_now(["2401.07002"]) == ["2401.07002"]
    assert len(replay.hits_for(API)) == 1  # already there: no request
    assert sqlite_db.read_blocking(lambda s: s.get(Paper, "2401.07002").title).startswith(
        "Learning the Schrödinger"
    )


async def test_fetch_now_reports_the_api_error_entry(
    replay: ReplayServer, service: FeedService, sqlite_db: Database
) -> None:
    replay.add(API, Reply(400, fixture("api_error.xml")))
    with pytest.raises(FeedError, match="incorrect id format"):
        await service.fetch_now(["2401.07003"])
    assert count(sqlite_db, Paper) == 0
    assert runs(sqlite_db)[-1][2] == "error"


async def test_fetch_now_refuses_garbage_before_asking_arxiv(
    replay: ReplayServer, service: FeedService
) -> None:
    with pytest.raises(InputError):
        await service.fetch_now(["2401.07002", "not an id"])
    with pytest.raises(InputError, match="at most"):
        await service.fetch_now([f"2401.{i:05d}" for i in range(1, 2100)])
    assert replay.hits == []


async def test_api_paging(replay: ReplayServer, service: FeedService, sqlite_db: Database) -> None:
    replay.add(API, Reply(body=fixture("api_page1of2.xml")), Reply(body=fixture("api_page2of2.xml")))
    found = await service.fetch_now(["2401.07001", "2401.07002", "2401.06500"])
    assert found == ["2401.07001", "2401.07002", "2401.06500"]
    assert [h.query["start"] for h in replay.hits_for(API)] == [["0"], ["2"]]


async def test_truncated_api_page_is_a_parse_error(
    replay: ReplayServer, service: FeedService, sqlite_db: Database
) -> None:
    replay.add(API, Reply(body=fixture("api_2024-01-15_details.xml")[:1500]))
    with pytest.raises(FeedError, match="malformed XML") as info:
        await service.fetch_now(["2401.07001"])
    assert isinstance(info.value.__cause__, ParseError)
    assert count(sqlite_db, Paper) == 0


# ---------------------------------------------------------------- backfill


async def test_backfill_follows_resumption_tokens_and_waits_on_503(
    replay: ReplayServer, service: FeedService, sqlite_db: Database
) -> None:
    replay.add(
        OAI,
        Reply(503, b"<h1>Retry after 1 seconds</h1>", {"Retry-After": "1"}, content_type="text/html"),
        Reply(body=fixture("oai_raw_page1.xml"), content_type="text/xml"),
        Reply(body=fixture("oai_raw_page2.xml"), content_type="text/xml"),
    )
    n = await service.backfill(dt.date(2024, 1, 10), dt.date(2024, 1, 10), ["cs.LG"])
    assert n == 3
    hits = replay.hits_for(OAI)
    assert hits[0].query == {
        "verb": ["ListRecords"],
        "metadataPrefix": ["arXivRaw"],
        "from": ["2024-01-10"],
        "until": ["2024-01-10"],
        "set": ["cs:cs:LG"],
    }
    assert hits[2].query == {"verb": ["ListRecords"], "resumptionToken": ["6960524|1001"]}
    assert hits[1].at - hits[0].at >= 0.98
    gd = sqlite_db.read_blocking(lambda s: s.get(Paper, "2312.01234"))
    assert gd.source == "oai"
    assert [v.size for v in gd.versions] == ["512kb", "530kb"]
    assert runs(sqlite_db) == [("oai", "cs:cs:LG 2024-01-10..2024-01-10", "ok")]


async def test_backfill_error_keeps_committed_pages(
    replay: ReplayServer, service: FeedService, sqlite_db: Database
) -> None:
    replay.add(OAI, Reply(body=fixture("oai_raw_page1.xml")), Reply(body=fixture("oai_bad_token.xml")))
    with pytest.raises(FeedError, match="badResumptionToken"):
        await service.backfill(dt.date(2024, 1, 10), None, ["cs.LG"])
    assert count(sqlite_db, Paper) == 2
    assert runs(sqlite_db)[-1][2] == "error"


async def test_a_person_waiting_goes_before_the_backfill(
    replay: ReplayServer, cfg: Config, sqlite_db: Database
) -> None:
    replay.add(OAI, Reply(body=fixture("oai_raw_page1.xml")), Reply(body=fixture("oai_raw_page2.xml")))
    replay.add(API, Reply(body=fixture("api_2401.07002.xml")))
    async with FeedService(cfg, sqlite_db, min_interval_s=0.3) as svc:
        backfill = asyncio.create_task(svc.backfill(dt.date(2024, 1, 10), None, ["cs.LG"]))
        while not replay.hits:  # noqa: ASYNC110 - the replay server runs in another thread
            await asyncio.sleep(0.01)
        await svc.fetch_now(["2401.07002"])
        await backfill
    assert [h.path for h in replay.hits] == [OAI, API, OAI]


# ---------------------------------------------------------------- the daemon's loop


async def test_run_polls_until_the_feed_moves_on_then_waits(
    replay: ReplayServer, tmp_path: Path, sqlite_db: Database
) -> None:
    cfg = make_config(replay, tmp_path, sqlite_db.url)
    monday_morning = dt.datetime(2024, 1, 15, 10, 0, tzinfo=EASTERN)  # expects the listing of Mon 15 Jan
    friday = (
        fixture("rss_cs.LG_2024-01-15.xml").replace(b"15 Jan 2024", b"12 Jan 2024").replace(b"Mon,", b"Fri,")
    )
    replay.add(FEED, Reply(body=friday), Reply(body=friday), Reply(body=fixture("rss_cs.LG_2024-01-15.xml")))
    replay.add(API, Reply(body=fixture("api_2024-01-15_details.xml")))
    seen: list[list[str]] = []

    async def on_commit(ids: list[str]) -> None:
        seen.append(ids)

    svc = FeedService(cfg, sqlite_db, on_commit, min_interval_s=0.05, clock=lambda: monday_morning)
    task = asyncio.create_task(svc.run())
    try:
        for _ in range(400):
            if len(replay.hits_for(FEED)) >= 3 and sqlite_db.read_blocking(
                lambda s: s.scalar(select(func.max(Announcement.date)))
            ) == dt.date(2024, 1, 15):
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # it must now sleep until Monday 20:00 ET, not poll again
        assert len(replay.hits_for(FEED)) == 3
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await svc.aclose()
    statuses = [r[2] for r in runs(sqlite_db)]
    assert statuses == ["ok", "stale", "ok"]  # Friday's list stored once, then Monday's
    dates = sqlite_db.read_blocking(lambda s: sorted({a.date for a in s.scalars(select(Announcement))}))
    assert dates == [dt.date(2024, 1, 12), dt.date(2024, 1, 15)]
    assert seen


async def test_run_retries_a_failing_feed_and_logs_recovery(
    replay: ReplayServer, tmp_path: Path, sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = make_config(replay, tmp_path, sqlite_db.url, max_retries=0)
    replay.add(
        FEED,
        Reply(body=fixture("html_error.html"), content_type="text/html"),
        Reply(body=fixture("html_error.html"), content_type="text/html"),
        Reply(body=fixture("atom_cs.LG_2024-01-16.xml")),
    )
    replay.add(API, Reply(body=fixture("api_empty.xml")))
    tuesday = dt.datetime(2024, 1, 16, 9, 0, tzinfo=EASTERN)
    caplog.set_level(logging.INFO, logger="feeds")
    svc = FeedService(cfg, sqlite_db, min_interval_s=0.05, clock=lambda: tuesday)
    task = asyncio.create_task(svc.run())
    try:
        for _ in range(400):
            if any("recovered" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await svc.aclose()
    assert count(sqlite_db, Announcement) == 3
    messages = [r.getMessage() for r in caplog.records if r.name == "feeds.service"]
    assert sum("failed" in m for m in messages) == 1  # logged once, not on every retry
    assert any("recovered" in m for m in messages)


async def test_run_backfills_listing_days_the_feed_skipped(
    replay: ReplayServer, tmp_path: Path, sqlite_db: Database
) -> None:
    from feeds import store

    cfg = make_config(replay, tmp_path, sqlite_db.url)
    thursday = dt.date(2024, 1, 11)
    started = dt.datetime(2024, 1, 11, 6, tzinfo=dt.UTC)
    sqlite_db.write_blocking(
        lambda s: store.record_run(s, "rss", "cs.LG", "ok", started=started, announce_date=thursday)
    )
    replay.add(FEED, Reply(body=fixture("atom_cs.LG_2024-01-16.xml")))
    replay.add(API, Reply(body=fixture("api_empty.xml")))
    replay.add(OAI, Reply(body=fixture("oai_raw_page2.xml"), content_type="text/xml"))
    tuesday = dt.datetime(2024, 1, 16, 9, 0, tzinfo=EASTERN)
    svc = FeedService(cfg, sqlite_db, min_interval_s=0.05, clock=lambda: tuesday)
    task = asyncio.create_task(svc.run())
    try:
        for _ in range(400):
            if sqlite_db.read_blocking(lambda s: s.get(Paper, "1406.2661")) is not None:
                break
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await svc.aclose()
    (oai,) = replay.hits_for(OAI)
    assert oai.query["from"] == ["2024-01-11"]
    assert oai.query["until"] == ["2024-01-16"]
    assert oai.query["set"] == ["cs:cs:LG"]
    assert sqlite_db.read_blocking(lambda s: s.get(Paper, "1406.2661").source) == "oai"


async def test_two_pages_opening_one_paper_make_one_request(
    replay: ReplayServer, service: FeedService, sqlite_db: Database
) -> None:
    replay.add(API, Reply(body=fixture("api_2401.07002.xml")))
    both = await asyncio.gather(service.fetch_now(["2401.07002"]), service.fetch_now(["arXiv:2401.07002v1"]))
    assert both == [["2401.07002"], ["2401.07002"]]
    assert len(replay.hits_for(API)) == 1


def test_a_feed_url_without_its_placeholder_is_a_config_error(cfg: Config) -> None:
    from core.errors import ConfigError
    from feeds.arxiv import Arxiv

    arxiv = Arxiv(cfg.papers.model_copy(update={"rss_url": "https://x/{cat}"}), http=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="category"):
        arxiv.feed_url("cs.LG")


async def test_a_disabled_feed_never_polls_but_still_fetches(
    replay: ReplayServer, tmp_path: Path, sqlite_db: Database
) -> None:
    cfg = make_config(replay, tmp_path, sqlite_db.url, enabled=False)
    replay.add(API, Reply(body=fixture("api_2401.07002.xml")))
    svc = FeedService(cfg, sqlite_db, min_interval_s=0.05)
    try:
        await asyncio.wait_for(svc.run(), 2)  # nothing to schedule: it returns instead of idling forever
        assert await svc.fetch_now(["2401.07002"]) == ["2401.07002"]
    finally:
        await svc.aclose()
    assert replay.hits_for(FEED) == []
