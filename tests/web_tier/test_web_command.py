"""``coolstove web`` in process: its options, what it refuses, ``/healthz``, and what it does not serve."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from web_tier_kit import filled_index, paper_id, word

from core.clicontext import CliContext
from core.config import Config, HttpConfig, PapersConfig, StorageConfig
from core.errors import ConfigError
from daemon import cli_web
from daemon.cli import SchemaLoader
from daemon.cli_web import make_web_app, web
from search.publish import publish
from search.replica import ReplicaIndex


def test_listen_must_be_host_and_port() -> None:
    for bad in ("8472", "localhost", ":8472", "host:port", "127.0.0.1:99999", "127.0.0.1:²", "[]:80"):
        result = CliRunner().invoke(web, ["--listen", bad], obj=CliContext(None))
        assert result.exit_code == 2, (bad, result.output)
        assert "must be HOST:PORT" in result.output


def test_a_missing_sqlite_database_is_refused_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_web, "setup_logging", lambda level: None)  # the test session's logging stays
    config = tmp_path / "web.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n')
    cli = CliContext(str(config), loader=SchemaLoader())
    result = CliRunner().invoke(web, ["--listen", "127.0.0.1:0"], obj=cli)
    assert isinstance(result.exception, ConfigError)
    assert "no paper database at" in str(result.exception)
    assert not (tmp_path / "data").exists()


async def test_healthz_says_what_is_served_and_is_503_until_there_is_an_index(tmp_path: Path) -> None:
    db, index = filled_index(tmp_path, range(3))
    pub = tmp_path / "pub"
    cfg = Config(storage=StorageConfig(data_dir=tmp_path), papers=PapersConfig(categories=("cs.LG",)),
                 http=HttpConfig(pages_listen="127.0.0.1:8472"))
    replica = ReplicaIndex(pub).open(follow=False)
    transport = httpx.ASGITransport(app=make_web_app(cfg, db, replica))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            r = await c.get("/healthz")
            assert r.status_code == 503
            assert r.json() == {"index": None, "papers": None, "published_s_ago": None, "database": "ok"}
            assert "no search index has been published" in (await c.get("/search", params={"q": "x"})).text
            name = publish(index.index_dir, pub)
            assert replica.refresh()
            r = await c.get("/healthz")
            assert r.status_code == 200
            body = r.json()
            assert body["index"] == name
            assert body["papers"] == 3
            assert body["database"] == "ok"
            assert 0 <= body["published_s_ago"] < 60
            assert paper_id(1) in (await c.get("/search", params={"q": word(1)})).text
            home = await c.get("/")
            assert 'href="/search"' in home.text
            assert "/stove" not in home.text  # no way to the stove from a web process
            for path in ("/stove", "/api/stove", "/api/stove/burners/left/cut"):
                r = await c.get(path)
                assert r.status_code == 404
                assert "read-only web process" in r.text
            assert (await c.post("/api/stove/burners/left/cut")).status_code == 404
            # a paper that is not in the database is not fetched: a 404 linking to arXiv
            r = await c.get("/arxiv/2501.00002")
            assert r.status_code == 404
            assert "https://arxiv.org/abs/2501.00002" in r.text
    finally:
        replica.close()
        index.close()
        db.close()
