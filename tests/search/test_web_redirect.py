"""/redirect (any arXiv address -> this instance's page), its bookmarklet page, the OpenSearch document."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import httpx
import pytest

from core.errors import InputError
from search.web.redirect import local_path

OS = "{http://a9.com/-/spec/opensearch/1.1/}"


@pytest.mark.parametrize(
    ("given", "path"),
    [
        ("https://arxiv.org/abs/2403.00001v2", "/arxiv/2403.00001"),
        ("http://www.arxiv.org/pdf/2403.00001v1.pdf", "/arxiv/2403.00001"),
        ("arxiv.org/pdf/2403.00001", "/arxiv/2403.00001"),
        ("WWW.arXiv.org/abs/2403.00001", "/arxiv/2403.00001"),
        ("export.arxiv.org/list/cs.LG/new", "/arxiv/cs.LG"),
        ("https://arxiv.org/html/2403.00001v3/", "/arxiv/2403.00001"),
        ("https://export.arxiv.org/abs/hep-th/9901001", "/arxiv/hep-th/9901001"),
        ("https://arxiv.org/list/cs.LG/new", "/arxiv/cs.LG"),
        ("https://arxiv.org/list/cs.LG/2401?skip=0&show=25", "/arxiv/cs.LG"),
        ("arXiv:2403.00001", "/arxiv/2403.00001"),
        ("  2403.00001v4 ", "/arxiv/2403.00001"),
    ],
)
def test_arxiv_addresses_map_to_local_pages(given: str, path: str) -> None:
    assert local_path(given) == path


@pytest.mark.parametrize(
    "given",
    [
        "",
        "https://evil.example/abs/2403.00001",
        "https://arxiv.org@evil.example/abs/2403.00001",
        "//evil.example/abs/2403.00001",
        "javascript:alert(1)",
        "ftp://arxiv.org/abs/2403.00001",
        "https://arxiv.org/abs/../../etc/passwd",
        "https://arxiv.org/list/<script>/new",
        "https://arxiv.org/help",
        "evil.example/abs/2403.00001",
        "2" * 3000,
    ],
)
def test_anything_else_is_refused(given: str) -> None:
    with pytest.raises(InputError):
        local_path(given)


async def test_redirect_route(client: httpx.AsyncClient) -> None:
    r = await client.get("/redirect", params={"url": "https://arxiv.org/abs/2403.00002v1"})
    assert r.status_code == 303
    assert r.headers["location"] == "/arxiv/2403.00002"
    assert (await client.get(r.headers["location"])).status_code == 200
    bad = await client.get("/redirect", params={"url": "https://evil.example/abs/2403.00002<b>"})
    assert bad.status_code == 400
    assert "only arxiv.org addresses" in bad.text
    assert "<b>" not in bad.text  # the address is shown back as text
    assert "location" not in bad.headers
    form = await client.get("/redirect")
    assert form.status_code == 200
    href = re.search(r"href='(javascript:[^']*)'", form.text)
    assert href is not None
    target = json.loads(href[1].removeprefix("javascript:location.href=").split("+encodeURIComponent")[0])
    assert target == "http://testserver/redirect?url="


async def test_opensearch_description(client: httpx.AsyncClient) -> None:
    page = (await client.get("/arxiv/cs.LG")).text
    assert 'rel="search" type="application/opensearchdescription+xml"' in page
    r = await client.get("/opensearch.xml")
    assert r.headers["content-type"].startswith("application/opensearchdescription+xml")
    root = ET.fromstring(r.text)  # noqa: S314 - our own output
    urls = {u.get("type"): u.get("template") for u in root.iter(f"{OS}Url")}
    assert urls["text/html"] == "http://testserver/search?q={searchTerms}"
    assert urls["application/atom+xml"] == "http://testserver/search/feed?q={searchTerms}"
    hostile = await client.get("/opensearch.xml", headers={"host": 'a"b<c>'})
    assert hostile.status_code in (200, 400)
    if hostile.status_code == 200:
        ET.fromstring(hostile.text)  # noqa: S314 - our own output, still well-formed XML
