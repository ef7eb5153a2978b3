"""arXiv's three interfaces as async calls: the day's feed, the query API by id, OAI-PMH backfill.

Each call goes through the polite client (so spacing and priorities hold
across all of them) and parses off the event loop (``to_thread``): a 2,000
entry feed takes most of a second to parse, which the loop must not feel.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Sequence

from core.config import PapersConfig
from core.errors import ConfigError, FetchError, ParseError
from feeds.http import HttpResult, PoliteClient, Priority, conditional_headers, expect_status
from feeds.parse_api import ApiPage, parse_api
from feeds.parse_oai import OaiPage, parse_oai
from feeds.parse_rss import FeedDay, parse_feed
from feeds.records import PaperRecord

__all__ = ["API_MAX_PAGE", "Arxiv", "oai_set"]

_LOGGER = logging.getLogger(__name__)
API_MAX_PAGE = 2000  # arXiv's limit per API page
API_ID_CHUNK = 100  # ids per request: keeps the GET URL short
_PHYSICS_ARCHIVES = {
    "astro-ph",
    "cond-mat",
    "gr-qc",
    "hep-ex",
    "hep-lat",
    "hep-ph",
    "hep-th",
    "math-ph",
    "nlin",
    "nucl-ex",
    "nucl-th",
    "physics",
    "quant-ph",
}


def oai_set(category: str) -> str:
    """The OAI-PMH set for a category, in the 2025 ``group:archive:SUBJECT`` form (``cs:cs:LG``)."""
    archive, _, subject = category.partition(".")
    group = "physics" if archive in _PHYSICS_ARCHIVES else archive
    if subject:
        return f"{group}:{archive}:{subject}"
    return group if group == archive else f"{group}:{archive}"


class Arxiv:
    """The feed, API and OAI endpoints from the config, behind one PoliteClient."""

    def __init__(self, papers: PapersConfig, http: PoliteClient) -> None:
        self.papers = papers
        self.http = http

    def feed_url(self, category: str) -> str:
        try:
            return self.papers.rss_url.format(category=category)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"[papers] rss_url must contain {{category}} and no other braces: {self.papers.rss_url!r}"
            ) from exc

    async def day_feed(
        self,
        category: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        priority: Priority = Priority.TODAY,
    ) -> tuple[HttpResult, FeedDay | None]:
        """The category's current feed; ``None`` when the server says 304 Not Modified."""
        url = self.feed_url(category)
        result = await self.http.get(url, headers=conditional_headers(etag, last_modified), priority=priority)
        if result.not_modified:
            return result, None
        expect_status(result, 200)
        day = await asyncio.to_thread(parse_feed, result.content, category)
        return result, day

    async def _api_page(self, params: dict[str, str], priority: Priority) -> ApiPage:
        result = await self.http.get(self.papers.api_url, params=params, priority=priority)
        if result.status == 200:
            return await asyncio.to_thread(parse_api, result.content)
        if 400 <= result.status < 500:
            try:  # arXiv explains a bad query in an Atom error entry
                parse_api(result.content)
            except ParseError as exc:
                if "API error" in str(exc):
                    raise
        raise FetchError(f"{result.url}: HTTP {result.status}", status=result.status, url=result.url)

    async def by_ids(
        self, ids: Sequence[str], *, priority: Priority = Priority.TODAY, chunk: int = API_ID_CHUNK
    ) -> AsyncIterator[list[PaperRecord]]:
        """Records for ``ids``, one list per API page; ids arXiv does not know are simply absent."""
        chunk = max(1, min(chunk, API_MAX_PAGE))
        for i in range(0, len(ids), chunk):
            part = list(ids[i : i + chunk])
            start = 0
            while True:
                params = {"id_list": ",".join(part), "start": str(start), "max_results": str(len(part))}
                page = await self._api_page(params, priority)
                yield page.records
                start += len(page.records)
                if not page.records or start >= min(page.total, len(part)):
                    break

    async def list_records(
        self,
        *,
        from_: dt.date,
        until: dt.date | None = None,
        set_spec: str | None = None,
        prefix: str = "arXivRaw",
        priority: Priority = Priority.HISTORY,
    ) -> AsyncIterator[OaiPage]:
        """OAI-PMH ListRecords pages, following resumption tokens to the end."""
        params: dict[str, str] = {"verb": "ListRecords", "metadataPrefix": prefix, "from": from_.isoformat()}
        if until is not None:
            params["until"] = until.isoformat()
        if set_spec:
            params["set"] = set_spec
        pages = 0
        while True:
            result = await self.http.get(self.papers.oai_url, params=params, priority=priority)
            if result.status != 200 and not (
                400 <= result.status < 500 and b"<OAI-PMH" in result.content[:4096]
            ):
                expect_status(result, 200)
            page = await asyncio.to_thread(parse_oai, result.content)
            pages += 1
            yield page
            if not page.resumption_token:
                return
            params = {"verb": "ListRecords", "resumptionToken": page.resumption_token}
            _LOGGER.debug("OAI-PMH page %d done; resuming", pages)
