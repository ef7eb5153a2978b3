"""The real daemon and a real ``coolstove papers import`` beside it: what another process writes is
searchable and browsable within seconds, without restarting the daemon (issue 10)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from daemon_proc import DaemonProc
from waiting import wait_for_sync

pytestmark = pytest.mark.slow

SNAPSHOT = Path(__file__).resolve().parents[1] / "fixtures" / "arxiv" / "snapshot_small.jsonl"


def test_an_import_beside_the_running_daemon_is_searchable_and_listed(tmp_path: Path) -> None:
    d = DaemonProc(tmp_path, "", {
        "COOLSTOVE_PAPERS__ENABLED": "true",
        "COOLSTOVE_PAPERS__CATEGORIES": "cs.LG",
        "COOLSTOVE_PAPERS__RSS_URL": "http://127.0.0.1:9/atom/{category}",  # nothing listens: the feed
        "COOLSTOVE_PAPERS__API_URL": "http://127.0.0.1:9/api",              # fails and backs off
        "COOLSTOVE_PAPERS__OAI_URL": "http://127.0.0.1:9/oai",
    })
    base = d.pages_base
    try:
        d.start()

        def search(q: str) -> list[str]:
            r = httpx.get(base + "/search", params={"q": q}, timeout=10)
            assert r.status_code == 200
            return [pid for pid in ("0704.0001", "1406.2661") if pid in r.text]

        assert search("diphoton") == []
        assert httpx.get(base + "/arxiv/hep-ph", timeout=10).status_code == 404
        r = d.cli("papers", "import", str(SNAPSHOT), "-q")
        assert r.returncode == 0, r.stderr
        assert "imported 4 papers" in r.stdout
        # the CLI could not own the index (the daemon does): the daemon indexes what it wrote
        wait_for_sync(lambda: search("diphoton") == ["0704.0001"], 30, interval=0.2)
        assert search("adversarial") == ["1406.2661"]
        # and the imported papers are listed by the day of their first version, page and feed alike
        page = httpx.get(base + "/arxiv/hep-ph", timeout=10)
        assert page.status_code == 200
        assert "Calculation of prompt diphoton production" in page.text
        assert "2007-04-02" in page.text
        feed = httpx.get(base + "/arxiv/hep-ph/feed", timeout=10)
        assert feed.status_code == 200
        assert feed.text.count("<entry>") == 1
        assert "https://arxiv.org/abs/0704.0001" in feed.text
        index = httpx.get(base + "/arxiv", timeout=10)
        assert "Nothing crawled or imported yet" not in index.text
        assert 'href="/arxiv/hep-ph"' in index.text
    finally:
        d.stop()
