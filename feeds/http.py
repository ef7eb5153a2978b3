"""The only way coolstove talks to arXiv: one connection, one polite queue, by priority.

arXiv's terms allow one request every three seconds on one connection. Every
request therefore goes through a single worker that takes jobs from a
priority queue (a person waiting for a paper, then today's list, then
history), starts them at least ``min_interval_s`` apart (counted from the
previous answer's first byte, so they also arrive that far apart), and backs
off on 429/5xx honouring ``Retry-After``.
httpx's exceptions are translated here and nowhere else.

When arXiv cannot be connected to at all (offline, DNS, refused, connect timeout) the request fails at
once instead of retrying for a minute, and so does every request after it until ``PROBE_EVERY_S`` has
passed: then the next request in the queue is the one probe for all of them. Waiting people get an
answer in seconds; arXiv still sees at most one connection attempt per interval.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import itertools
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx

from core.config import PapersConfig
from core.errors import ArxivUnreachable, ConfigError, FetchError

__all__ = [
    "CONNECT_TIMEOUT_S",
    "MAX_RESPONSE_BYTES",
    "PROBE_EVERY_S",
    "HttpResult",
    "PoliteClient",
    "Priority",
    "conditional_headers",
    "expect_status",
    "retry_after_seconds",
]

_LOGGER = logging.getLogger(__name__)
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
ARXIV_MIN_INTERVAL_S = 3.0
CONNECT_TIMEOUT_S = 5.0  # a reachable arXiv connects in well under a second
PROBE_EVERY_S = 30.0  # while unreachable, one request per this long tries the connection


class Priority(enum.IntEnum):
    """Lower runs first."""

    USER = 0  # someone is waiting for this paper
    TODAY = 1  # today's announcements
    HISTORY = 2  # backfill


@dataclass(frozen=True)
class HttpResult:
    url: str
    status: int
    content: bytes
    headers: Mapping[str, str]

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")


def conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    """Headers for a conditional GET from stored validators."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


@dataclass(order=True)
class _Job:
    priority: int
    seq: int
    url: str = field(compare=False)
    params: dict[str, str] | None = field(compare=False)
    headers: dict[str, str] = field(compare=False)
    future: asyncio.Future[HttpResult] = field(compare=False)
    attempts: int = field(default=0, compare=False)


class _Retry(Exception):
    def __init__(self, reason: str, delay: float | None, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay
        self.status = status


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


class PoliteClient:
    """An httpx.AsyncClient behind a priority queue with one worker and a minimum spacing."""

    def __init__(
        self,
        papers: PapersConfig,
        *,
        min_interval_s: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_bytes: int = MAX_RESPONSE_BYTES,
        max_wait_s: float = 900.0,
        probe_every_s: float = PROBE_EVERY_S,
    ) -> None:
        """``min_interval_s`` exists for tests only; the configured interval may never go below 3 s."""
        if papers.min_interval_s < ARXIV_MIN_INTERVAL_S:
            raise ConfigError(f"[papers] min_interval_s must be at least {ARXIV_MIN_INTERVAL_S:g} s")
        self.interval = papers.min_interval_s if min_interval_s is None else float(min_interval_s)
        self.max_retries = papers.max_retries
        self.max_bytes = max_bytes
        self.max_wait_s = max_wait_s
        self._client = httpx.AsyncClient(
            headers={"User-Agent": papers.user_agent},
            timeout=httpx.Timeout(papers.timeout_s, connect=min(papers.timeout_s, CONNECT_TIMEOUT_S)),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            follow_redirects=True,
            transport=transport,
        )
        self._queue: asyncio.PriorityQueue[_Job] = asyncio.PriorityQueue()
        self._seq = itertools.count()
        self._worker: asyncio.Task[None] | None = None
        self._next_allowed = 0.0
        self._closed = False
        self.probe_every_s = probe_every_s
        self._unreachable: tuple[float, str] | None = None  # (loop time of the failed attempt, why)
        # loop.time() of recent request starts, for logs and tests (bounded: the daemon runs for months)
        self.request_starts: deque[float] = deque(maxlen=1000)

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        priority: Priority = Priority.HISTORY,
    ) -> HttpResult:
        """Queue a GET and wait for its final answer (any status but 429/5xx, which are retried)."""
        if self._closed:
            raise FetchError("the arXiv client is closed", url=url)
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._work(), name="arxiv-http")
        job = _Job(
            int(priority),
            next(self._seq),
            url,
            dict(params) if params else None,
            dict(headers or {}),
            loop.create_future(),
        )
        self._queue.put_nowait(job)
        return await job.future

    async def aclose(self) -> None:
        """Stop the worker, fail whatever is still queued, close the connection. Idempotent."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(FetchError("the arXiv client was closed", url=job.url))
        await self._client.aclose()

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job = await self._queue.get()
            if job.future.done():  # the caller gave up (cancelled)
                continue
            if self._unreachable is not None:
                failed_at, why = self._unreachable
                retry_in = failed_at + self.probe_every_s - loop.time()
                if retry_in > 0:  # no connection attempt: the last one failed moments ago
                    job.future.set_exception(ArxivUnreachable(
                        f"arXiv cannot be reached ({why}); next attempt in {retry_in:.0f} s", url=job.url
                    ))
                    continue
            wait = self._next_allowed - loop.time()
            if wait > 0:
                self._queue.put_nowait(job)  # something more urgent may arrive while we wait
                await asyncio.sleep(wait)
                continue
            start = loop.time()
            self.request_starts.append(start)
            self._next_allowed = start + self.interval
            try:
                result = await self._send(job)
            except ArxivUnreachable as exc:
                if self._unreachable is None:
                    _LOGGER.warning("%s; requests fail at once, one probe per %g s", exc,
                                    self.probe_every_s)
                cause = exc.__cause__
                self._unreachable = (loop.time(), f"{type(cause).__name__}: {cause}" if cause else str(exc))
                if not job.future.done():
                    job.future.set_exception(exc)
            except _Retry as retry:
                self._retry(job, retry, loop.time())
            except FetchError as exc:
                if not job.future.done():
                    job.future.set_exception(exc)
            except Exception as exc:  # a bug must fail one request, not hang every caller
                _LOGGER.exception("unexpected error fetching %s", job.url)
                if not job.future.done():
                    job.future.set_exception(FetchError(f"unexpected error: {exc!r}", url=job.url))
            else:
                if self._unreachable is not None:
                    _LOGGER.info("arXiv reachable again")
                    self._unreachable = None
                _LOGGER.debug("GET %s -> %s (%.2f s)", result.url, result.status, loop.time() - start)
                if not job.future.done():
                    job.future.set_result(result)

    def _retry(self, job: _Job, retry: _Retry, now: float) -> None:
        job.attempts += 1
        if job.attempts > self.max_retries:
            msg = f"{job.url}: {retry.reason}; gave up after {job.attempts} attempts"
            if not job.future.done():
                job.future.set_exception(FetchError(msg, status=retry.status, url=job.url))
            return
        delay = retry.delay if retry.delay is not None else self.interval * 2 ** (job.attempts - 1)
        if delay > self.max_wait_s:
            if not job.future.done():
                job.future.set_exception(
                    FetchError(
                        f"{job.url}: {retry.reason}; asked to wait {delay:.0f} s, "
                        f"more than {self.max_wait_s:.0f} s",
                        status=retry.status,
                        url=job.url,
                    )
                )
            return
        _LOGGER.warning(
            "arXiv: %s; retrying in %.1f s (attempt %d of %d)",
            retry.reason,
            delay,
            job.attempts + 1,
            self.max_retries + 1,
        )
        # Retry-After is the server speaking about itself: everyone waits, not only this job
        self._next_allowed = max(self._next_allowed, now + delay)
        self._queue.put_nowait(job)

    async def _send(self, job: _Job) -> HttpResult:
        try:
            async with self._client.stream("GET", job.url, params=job.params, headers=job.headers) as resp:
                # The request reached arXiv before its answer began: counting the interval from here, not
                # from before the connection was made, keeps arrivals at arXiv >= interval apart even
                # when connecting took a while (a start-to-start count let them come 2.2 s apart).
                answered = asyncio.get_running_loop().time()
                self._next_allowed = max(self._next_allowed, answered + self.interval)
                if resp.status_code in RETRY_STATUSES:
                    await resp.aclose()
                    delay = retry_after_seconds(resp.headers.get("retry-after"))
                    raise _Retry(f"HTTP {resp.status_code} from {resp.url.host}", delay, resp.status_code)
                declared = resp.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise FetchError(
                        f"{job.url}: response of {declared} bytes refused (limit {self.max_bytes})",
                        status=resp.status_code,
                        url=job.url,
                    )
                chunks = []
                total = 0
                async for chunk in resp.aiter_bytes():
                    total += len(chunk)
                    if total > self.max_bytes:
                        raise FetchError(
                            f"{job.url}: response exceeds {self.max_bytes} bytes",
                            status=resp.status_code,
                            url=job.url,
                        )
                    chunks.append(chunk)
                return HttpResult(str(resp.url), resp.status_code, b"".join(chunks), resp.headers)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # nothing reached arXiv: do not retry
            raise ArxivUnreachable(
                f"arXiv cannot be reached ({exc.__class__.__name__}: {exc})", url=job.url
            ) from exc
        except httpx.TimeoutException as exc:
            raise _Retry(f"timeout ({exc.__class__.__name__})", None) from exc
        except (httpx.TransportError, httpx.DecodingError) as exc:
            if isinstance(exc, httpx.UnsupportedProtocol):
                raise FetchError(f"{job.url}: {exc}", url=job.url) from exc
            raise _Retry(f"connection error ({exc.__class__.__name__}: {exc})", None) from exc
        except httpx.HTTPError as exc:  # invalid URL, too many redirects, ...
            raise FetchError(f"{job.url}: {exc.__class__.__name__}: {exc}", url=job.url) from exc


def expect_status(result: HttpResult, *ok: int) -> HttpResult:
    """Turn an unexpected final status into a FetchError that names it."""
    if result.status not in ok:
        raise FetchError(f"{result.url}: HTTP {result.status}", status=result.status, url=result.url)
    return result
