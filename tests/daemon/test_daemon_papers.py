"""The whole daemon with its paper job on: crawl from a replaying arXiv, index, serve, search.

arXiv is the one thing faked: a local HTTP server replaying responses in
arXiv's real formats. Everything else is the real daemon process.
"""

from __future__ import annotations

import itertools
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from daemon_proc import DaemonProc
from waiting import wait_for_sync

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "feeds"))
from arxiv_replay import ReplayServer, Reply, fixture

pytestmark = pytest.mark.slow


@pytest.fixture
def arxiv() -> Iterator[ReplayServer]:
    server = ReplayServer().start()
    server.add("/atom/cs.LG", Reply(body=fixture("rss_cs.LG_2024-01-15.xml")))
    server.add("/api/query", Reply(body=fixture("api_2024-01-15_details.xml")))
    try:
        yield server
    finally:
        server.stop()


def test_daemon_crawls_indexes_and_serves(tmp_path: Path, arxiv: ReplayServer) -> None:
    d = DaemonProc(tmp_path, "", {
        "COOLSTOVE_PAPERS__ENABLED": "true",
        "COOLSTOVE_PAPERS__CATEGORIES": "cs.LG",
        "COOLSTOVE_PAPERS__RSS_URL": arxiv.url("/atom/{category}"),
        "COOLSTOVE_PAPERS__API_URL": arxiv.url("/api/query"),
        "COOLSTOVE_PAPERS__OAI_URL": arxiv.url("/oai"),
        "COOLSTOVE_PAPERS__TIMEOUT_S": "5",
    })
    base = d.pages_base  # the paper pages have their own origin
    try:
        d.start()
        home = httpx.get(base + "/", timeout=10)
        assert home.status_code == 200
        assert f"127.0.0.1:{d.port}/stove" in home.text
        assert "cs.LG" in home.text
        # on the stove's origin a paper path is a redirect to the pages origin, and the reverse is a 404
        moved = httpx.get(f"{d.base}/arxiv/cs.LG?date=2024-01-15", timeout=10)
        assert moved.status_code == 307
        assert moved.headers["location"] == f"{base}/arxiv/cs.LG?date=2024-01-15"
        assert httpx.get(f"{base}/stove", timeout=10).status_code == 404
        assert httpx.get(f"{base}/api/stove", timeout=10).status_code == 404

        def listed() -> bool:
            r = httpx.get(base + "/arxiv/cs.LG", timeout=10)
            return r.status_code == 200 and "Sparse Attention for Long Sequences" in r.text

        wait_for_sync(listed, 60, interval=0.5)
        day = httpx.get(base + "/arxiv/cs.LG", timeout=10).text
        assert "2024-01-15" in day

        def found() -> list[str]:
            r = httpx.get(base + "/search", params={"q": "schrodinger"}, timeout=10)
            return ["2401.07002" in r.text] if r.status_code == 200 and "2401.07002" in r.text else []

        wait_for_sync(found, 60, interval=0.5)  # the index was updated after the committed batch
        page = httpx.get(base + "/arxiv/2401.07002", timeout=10)
        assert page.status_code == 200
        assert "Schrödinger" in page.text
        assert "https://arxiv.org/pdf/2401.07002" in page.text
        # the pages' CSP lets PDF.js fetch from the PDF host ([papers] pdf_url); the stove's origin does not
        csp = page.headers["content-security-policy"]
        assert "connect-src 'self' https://arxiv.org;" in csp
        assert "worker-src 'self'" in csp
        stove_csp = httpx.get(f"{d.base}/stove", timeout=10).headers["content-security-policy"]
        assert "arxiv" not in stove_csp
        assert "connect-src 'self';" in stove_csp

        # the CLI reads the index the daemon writes
        r = d.cli("papers", "search", "schrodinger", "--json")
        assert r.returncode == 0, r.stderr
        assert "2401.07002" in {h["id"] for h in json.loads(r.stdout)["hits"]}

        # a hostile query is an empty result with a message, never a 500
        r = httpx.get(base + "/search", params={"q": '"unbalanced AND NOT ' + "x" * 10000}, timeout=10)
        assert r.status_code < 500

        # every request to arXiv went through one connection, politely spaced
        wait_for_sync(lambda: len(arxiv.hits) >= 2, 30, interval=0.2)  # the API fills in the details
        hits = list(arxiv.hits)
        assert hits[1].path == "/api/query"
        gaps = [b.at - a.at for a, b in itertools.pairwise(hits)]
        assert min(gaps) >= 2.9, gaps
        assert all("coolstove" in h.headers.get("User-Agent", h.headers.get("user-agent", "")) for h in hits)

        d.signal(signal.SIGTERM)
        assert d.wait_exit() == 0
    finally:
        d.stop()
