"""The polite client against a local server: spacing, priorities, Retry-After, timeouts, one connection."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterable

import httpx
import pytest
from arxiv_replay import ReplayServer, Reply, fixture

from core.config import PapersConfig
from core.errors import ArxivUnreachable, ConfigError, FetchError
from feeds.http import PoliteClient, Priority, conditional_headers, retry_after_seconds

INTERVAL = 0.2


def papers(**kw: object) -> PapersConfig:
    # model_copy skips validation: the client's own refusals are tested with values the config refuses
    return PapersConfig(timeout_s=0.5, max_retries=3).model_copy(update=kw)


@pytest.fixture
async def client() -> PoliteClient:
    c = PoliteClient(papers(), min_interval_s=INTERVAL)
    yield c
    await c.aclose()


def gaps(times: Iterable[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


async def test_requests_are_spaced_and_use_one_connection(replay: ReplayServer, client: PoliteClient) -> None:
    replay.add("/feed", Reply(body=b"ok"))
    results = await asyncio.gather(*(client.get(replay.url("/feed")) for _ in range(5)))
    assert [r.status for r in results] == [200] * 5
    assert all(g >= INTERVAL for g in gaps(client.request_starts))
    server_gaps = gaps([h.at for h in replay.hits])
    assert all(
        g >= INTERVAL - 0.05 for g in server_gaps[1:]
    )  # as the server saw them (the first includes the connect)
    assert replay.connections == 1
    assert replay.hits[0].headers["user-agent"].startswith("coolstove/")


async def test_a_waiting_person_goes_before_today_before_history(
    replay: ReplayServer, client: PoliteClient
) -> None:
    for p in ("/first", "/history", "/today", "/user"):
        replay.add(p, Reply(body=p.encode()))
    first = asyncio.create_task(client.get(replay.url("/first"), priority=Priority.HISTORY))
    await asyncio.sleep(0.05)  # /first is in flight; the rest queue up behind the spacing
    jobs = [
        client.get(replay.url("/history"), priority=Priority.HISTORY),
        client.get(replay.url("/today"), priority=Priority.TODAY),
        client.get(replay.url("/user"), priority=Priority.USER),
    ]
    await asyncio.gather(first, *jobs)
    assert [h.path for h in replay.hits] == ["/first", "/user", "/today", "/history"]


async def test_503_retry_after_is_honoured(replay: ReplayServer, client: PoliteClient) -> None:
    replay.add(
        "/oai",
        Reply(
            503,
            b"<html><body><h1>Retry after 1 seconds</h1></body></html>",
            {"Retry-After": "1"},
            content_type="text/html",
        ),
        Reply(body=b"fine"),
    )
    result = await client.get(replay.url("/oai"))
    assert result.content == b"fine"
    first, second = (h.at for h in replay.hits)
    assert second - first >= 1.0 - 0.02


async def test_429_without_retry_after_backs_off(replay: ReplayServer, client: PoliteClient) -> None:
    replay.add("/api", Reply(429, b"slow down"), Reply(429, b"slow down"), Reply(body=b"ok"))
    result = await client.get(replay.url("/api"))
    assert result.status == 200
    g = gaps(client.request_starts)
    assert g[0] >= INTERVAL
    assert g[1] >= 2 * INTERVAL


async def test_retry_after_blocks_every_request_not_only_the_failed_one(
    replay: ReplayServer, client: PoliteClient
) -> None:
    replay.add("/a", Reply(503, b"busy", {"Retry-After": "1"}), Reply(body=b"a"))
    replay.add("/b", Reply(body=b"b"))
    await asyncio.gather(client.get(replay.url("/a")), client.get(replay.url("/b")))
    t0 = replay.hits[0].at
    assert all(h.at - t0 >= 1.0 - 0.02 for h in replay.hits[1:])


async def test_gives_up_after_max_retries(replay: ReplayServer) -> None:
    client = PoliteClient(papers(max_retries=2), min_interval_s=0.05)
    replay.add("/down", Reply(503, b"down"))
    try:
        with pytest.raises(FetchError, match=r"503.*gave up after 3 attempts") as info:
            await client.get(replay.url("/down"))
    finally:
        await client.aclose()
    assert info.value.status == 503
    assert len(replay.hits) == 3


async def test_retry_after_beyond_the_limit_fails_fast(replay: ReplayServer) -> None:
    client = PoliteClient(papers(), min_interval_s=0.05, max_wait_s=5)
    replay.add("/busy", Reply(503, b"busy", {"Retry-After": "3600"}))
    try:
        with pytest.raises(FetchError, match="asked to wait 3600 s"):
            await client.get(replay.url("/busy"))
    finally:
        await client.aclose()
    assert len(replay.hits) == 1


async def test_timeout_is_retried(replay: ReplayServer, client: PoliteClient) -> None:
    replay.add("/slow", Reply(body=b"late", delay=1.0), Reply(body=b"on time"))
    result = await client.get(replay.url("/slow"))
    assert result.content == b"on time"
    assert len(replay.hits) == 2


async def test_truncated_body_is_retried(replay: ReplayServer, client: PoliteClient) -> None:
    body = fixture("atom_cs.LG_2024-01-16.xml")
    replay.add("/feed", Reply(body=body[:500], truncate=True), Reply(body=body))
    result = await client.get(replay.url("/feed"))
    assert result.content == body


class Counting(httpx.AsyncHTTPTransport):
    """The real transport, counting the connections it is asked to make."""

    attempts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        return await super().handle_async_request(request)


REFUSED = "http://127.0.0.1:9/nothing-listens-here"


async def test_connection_refused_fails_at_once_without_retries() -> None:
    transport = Counting()
    client = PoliteClient(papers(max_retries=3), min_interval_s=0.05, transport=transport)
    try:
        with pytest.raises(ArxivUnreachable, match="cannot be reached"):
            await client.get(REFUSED)
    finally:
        await client.aclose()
    assert transport.attempts == 1  # it was four attempts, 45 s apart in all at arXiv's 3 s interval


async def test_one_probe_serves_the_whole_queue_while_arxiv_is_unreachable() -> None:
    transport = Counting()
    client = PoliteClient(papers(), min_interval_s=0.05, transport=transport, probe_every_s=60)
    try:
        results = await asyncio.gather(
            *(client.get(REFUSED, priority=Priority.USER) for _ in range(5)), return_exceptions=True
        )
    finally:
        await client.aclose()
    assert all(isinstance(r, ArxivUnreachable) for r in results)
    assert transport.attempts == 1
    assert "next attempt in 60 s" in str(results[-1])


async def test_after_the_probe_interval_a_request_tries_again_and_success_clears_it(
    replay: ReplayServer, caplog: pytest.LogCaptureFixture
) -> None:
    replay.add("/paper", Reply(body=b"ok"))
    caplog.set_level(logging.INFO, "feeds.http")
    client = PoliteClient(papers(), min_interval_s=0.05, probe_every_s=0.3)
    try:
        with pytest.raises(ArxivUnreachable):
            await client.get(REFUSED)
        with pytest.raises(ArxivUnreachable, match="next attempt in"):
            await client.get(replay.url("/paper"))  # within the interval: not even tried
        assert replay.hits == []
        await asyncio.sleep(0.35)
        assert (await client.get(replay.url("/paper"))).content == b"ok"  # the probe, and it works
        assert (await client.get(replay.url("/paper"))).content == b"ok"
    finally:
        await client.aclose()
    assert len(replay.hits) == 2
    assert "arXiv reachable again" in caplog.text


async def test_oversized_response_is_refused(replay: ReplayServer) -> None:
    client = PoliteClient(papers(), min_interval_s=0.05, max_bytes=1000)
    replay.add("/big", Reply(body=b"x" * 5000))
    try:
        with pytest.raises(FetchError, match="refused"):
            await client.get(replay.url("/big"))
    finally:
        await client.aclose()


async def test_conditional_get_gets_304(replay: ReplayServer, client: PoliteClient) -> None:
    replay.add(
        "/feed",
        Reply(body=b"feed", headers={"ETag": '"v1"', "Last-Modified": "Mon, 15 Jan 2024 05:00:00 GMT"}),
    )
    first = await client.get(replay.url("/feed"))
    assert first.etag == '"v1"'
    assert first.last_modified
    second = await client.get(
        replay.url("/feed"), headers=conditional_headers(first.etag, first.last_modified)
    )
    assert second.not_modified
    assert replay.hits[1].headers["if-none-match"] == '"v1"'


async def test_4xx_is_returned_not_retried(replay: ReplayServer, client: PoliteClient) -> None:
    replay.add("/api", Reply(400, fixture("api_error.xml")))
    result = await client.get(replay.url("/api"))
    assert result.status == 400
    assert len(replay.hits) == 1


async def test_cancelled_caller_does_not_block_the_queue(replay: ReplayServer, client: PoliteClient) -> None:
    replay.add("/x", Reply(body=b"x"))
    await client.get(replay.url("/x"))
    doomed = asyncio.create_task(client.get(replay.url("/x")))
    await asyncio.sleep(0.01)
    doomed.cancel()
    result = await client.get(replay.url("/x"))
    assert result.status == 200
    assert len(replay.hits) == 2  # the cancelled one never went out


async def test_closed_client_refuses_and_fails_queued_jobs(replay: ReplayServer) -> None:
    client = PoliteClient(papers(), min_interval_s=5)
    replay.add("/x", Reply(body=b"x"))
    await client.get(replay.url("/x"))
    queued = asyncio.create_task(client.get(replay.url("/x")))  # waits 5 s for its turn
    await asyncio.sleep(0.05)
    await client.aclose()
    with pytest.raises(FetchError, match="closed"):
        await queued
    with pytest.raises(FetchError, match="closed"):
        await client.get(replay.url("/x"))


def test_config_interval_below_three_seconds_is_refused() -> None:
    with pytest.raises(ConfigError):
        PoliteClient(papers(min_interval_s=1.0))


def test_retry_after_forms() -> None:
    import datetime as dt

    now = dt.datetime(2024, 1, 15, 12, 0, tzinfo=dt.UTC)
    assert retry_after_seconds("10") == 10
    assert retry_after_seconds("Mon, 15 Jan 2024 12:00:30 GMT", now) == 30
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


class SlowConnect(httpx.AsyncHTTPTransport):
    """The real transport, with a slow first connection (DNS, a TCP handshake over a bad link)."""

    first = True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.first:
            self.first = False
            await asyncio.sleep(0.15)
        return await super().handle_async_request(request)


async def test_requests_arrive_an_interval_apart_even_when_connecting_was_slow(replay: ReplayServer) -> None:
    replay.add("/a", Reply(body=b"a"))
    client = PoliteClient(papers(), min_interval_s=INTERVAL, transport=SlowConnect())
    try:
        for _ in range(3):
            await client.get(replay.url("/a"))
    finally:
        await client.aclose()
    arrivals = gaps([h.at for h in replay.hits])
    assert len(arrivals) == 2
    assert min(arrivals) >= INTERVAL - 0.01  # counted from the start, the first gap was 0.05 s
