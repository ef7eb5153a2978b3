"""Click counts after [PDF] / [FAQ] (search/web/clicks.py): counted without JavaScript by /go/pdf, with it by
a same-origin POST; bounded (kinds, held papers, batched writes); shown after the link; and the page CSP."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pydantic
import pytest
from sqlalchemy import select

from core.config import PapersConfig
from core.database import Database
from daemon.http import CSP, Guard, page_csp
from feeds.models import Click
from search.web.clicks import ClickCounter

T = TypeVar("T")
PID = "2403.00001"


def _rows(db: Database) -> list[tuple[str, str, int]]:
    return db.read_blocking(
        lambda s: [
            tuple(r) for r in s.execute(select(Click.paper_id, Click.kind, Click.count).order_by(Click.kind))
        ]
    )


async def test_go_pdf_counts_and_redirects_only_to_the_pdf_host(
    client: httpx.AsyncClient, filled_db: Database
) -> None:
    for n in (1, 2):
        r = await client.get(f"/go/pdf/{PID}")
        assert r.status_code == 303
        assert r.headers["location"] == f"https://arxiv.org/pdf/{PID}"
        assert _rows(filled_db) == [(PID, "pdf", n)]
    r = await client.get("/go/pdf/arXiv:2403.00001v3")  # normalised: the same paper, the same count
    assert r.headers["location"] == f"https://arxiv.org/pdf/{PID}"
    assert _rows(filled_db) == [(PID, "pdf", 3)]
    # an id not held still reaches its PDF, but gets no row
    r = await client.get("/go/pdf/2402.99998")
    assert (r.status_code, r.headers["location"]) == (303, "https://arxiv.org/pdf/2402.99998")
    # nothing else is a redirect: no open redirect through a crafted "id"
    for path in (
        "/go/pdf/https:%2F%2Fevil.example%2F",
        "/go/pdf/2403.00001%2F..%2F..%2Fx",
        "/go/pdf/javascript:alert(1)",
    ):
        r = await client.get(path)
        assert r.status_code == 400, path
        assert "location" not in r.headers
    r = await client.get(f"/go/faq/{PID}")  # [FAQ] without JavaScript: counted, then this site's page
    assert (r.status_code, r.headers["location"]) == (303, f"/faq/{PID}")
    r = await client.get("/go/faq/https:%2F%2Fevil.example%2F")
    assert r.status_code == 400
    assert "location" not in r.headers
    assert (await client.get(f"/go/star/{PID}")).status_code == 404
    assert _rows(filled_db) == [(PID, "faq", 1), (PID, "pdf", 3)]


async def test_post_counts_any_kind_and_refuses_the_rest(
    client: httpx.AsyncClient, filled_db: Database
) -> None:
    r = await client.post(f"/go/pdf/{PID}", headers={"Origin": "http://testserver"})
    assert r.status_code == 200
    assert r.json() == {"id": PID, "kind": "pdf", "count": 1}
    r = await client.post(f"/go/faq/{PID}")
    assert r.json() == {"id": PID, "kind": "faq", "count": 1}
    # a cross-site POST is refused by its Origin, as the star forms are
    r = await client.post(f"/go/pdf/{PID}", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = await client.post(f"/go/pdf/{PID}", headers={"Origin": "null"})
    assert r.status_code == 403
    assert (await client.post(f"/go/kimi/{PID}")).status_code == 400
    assert (await client.post("/go/pdf/not-an-id")).status_code == 400
    r = await client.post("/go/pdf/2402.99998")
    assert r.status_code == 404
    assert _rows(filled_db) == [(PID, "faq", 1), (PID, "pdf", 1)]  # no row for a paper not held


async def test_counts_show_after_the_links_on_every_list(
    client: httpx.AsyncClient, filled_db: Database
) -> None:
    for _ in range(12):
        await client.post(f"/go/pdf/{PID}")
    await client.post(f"/stars/{PID}", data={"action": "add"})
    marker = '<span class="click-count" data-kind="pdf" title="opened by this instance\'s readers">12</span>'
    for path in ("/arxiv/cs.LG", f"/arxiv/{PID}", "/stars"):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert f'href="/go/pdf/{PID}" data-click="pdf" data-pdf="https://arxiv.org/pdf/{PID}"' in r.text, path
        assert marker in r.text, path
    # papers never clicked show no number
    day = (await client.get("/arxiv/cs.LG")).text
    assert day.count('title="opened by this instance\'s readers"></span>') == 4


async def test_a_flood_of_clicks_is_written_in_a_few_batches(filled_db: Database) -> None:
    writes: list[int] = []

    class Counting:
        async def read(self, fn: Callable[[Any], T]) -> T:
            return await filled_db.read(fn)

        async def write(self, fn: Callable[[Any], T]) -> T:
            writes.append(1)
            return await filled_db.write(fn)

    counter = ClickCounter(Counting())  # type: ignore[arg-type]
    results = await asyncio.gather(*(counter.add(PID, "pdf") for _ in range(300)))
    assert max(r or 0 for r in results) == 300
    assert _rows(filled_db) == [(PID, "pdf", 300)]
    assert len(writes) <= 2  # the first click's write, then every click that came meanwhile in one


async def test_too_many_different_pending_clicks_are_refused() -> None:
    release = asyncio.Event()

    class Blocked:
        async def write(self, fn: Callable[[Any], T]) -> dict[Any, int]:
            await release.wait()
            return {}

    counter = ClickCounter(Blocked(), max_pending=2)  # type: ignore[arg-type]
    first = asyncio.ensure_future(counter.add("2403.00001", "pdf"))
    await asyncio.sleep(0)  # its write starts (and blocks)
    waiting = [asyncio.ensure_future(counter.add(pid, "pdf")) for pid in ("2403.00002", "2403.00003")]
    await asyncio.sleep(0)
    with pytest.raises(OverflowError):
        await counter.add("2403.00004", "pdf")
    again = asyncio.ensure_future(counter.add("2403.00002", "pdf"))  # a pair already waiting still counts
    release.set()
    assert await asyncio.gather(first, *waiting, again) == [None, None, None, None]  # (no paper held here)


def test_counts_stop_at_the_column_limit(filled_db: Database) -> None:
    from search.web.clicks import MAX_COUNT, _add_clicks

    now = dt.datetime.now(dt.UTC)
    filled_db.write_blocking(lambda s: _add_clicks(s, {(PID, "pdf"): MAX_COUNT - 1}, now))
    assert filled_db.write_blocking(lambda s: _add_clicks(s, {(PID, "pdf"): 5}, now)) == {
        (PID, "pdf"): MAX_COUNT
    }


def test_the_page_csp_lets_pdfjs_fetch_from_the_pdf_host_only() -> None:
    csp = page_csp("https://arxiv.org/pdf/")
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["connect-src"] == "'self' https://arxiv.org"
    assert directives["worker-src"] == "'self'"
    assert (
        directives["script-src"] == "'self'"
    )  # no eval, no inline script: PDF.js runs with isEvalSupported off
    assert "connect-src 'self' http://127.0.0.1:9" in page_csp("http://127.0.0.1:9/pdf/")
    assert "arxiv" not in CSP  # the stove's origin keeps the strict policy


async def test_the_guard_sends_the_csp_it_was_given(client: httpx.AsyncClient) -> None:
    from search_data import make_app  # noqa: F401 - the client fixture's app

    csp = page_csp("https://arxiv.org/pdf/")
    app = Guard(client._transport.app, csp=csp)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        r = await c.get("/arxiv/cs.LG")
    assert r.headers["content-security-policy"] == csp


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)//", "https://arxiv.org/pdf", "ftp://x/", "https://arxiv.org/pdf/?a=1"]
)
def test_pdf_url_must_be_an_http_base(url: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        PapersConfig(pdf_url=url)
    assert PapersConfig().pdf_url == "https://arxiv.org/pdf/"
