"""``coolstove papers search | reindex | check`` through click's runner, on a real database and index."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from search_data import PAPERS, insert_papers

from core.clicontext import CliContext
from core.config import Config
from core.database import Database
from daemon.cli_papers import papers
from search.index import SearchIndex


@pytest.fixture
def papers_group() -> click.Group:
    """``coolstove papers`` as the root assembles it: the crawler's commands and search's."""
    return papers


@pytest.fixture
def setup(cfg: Config, tmp_path: Path) -> Config:
    db = Database(cfg.papers_db_url)
    from feeds.models import Base

    Base.metadata.create_all(db.engine)
    insert_papers(db, PAPERS)
    db.close()
    return cfg


def run(group: click.Group, cfg: Config, *args: str) -> click.testing.Result:
    ctx = CliContext(None)
    ctx._config = cfg
    return CliRunner().invoke(group, list(args), obj=ctx, catch_exceptions=True)


def test_reindex_then_search(papers_group: click.Group, setup: Config) -> None:
    r = run(papers_group, setup, "reindex")
    assert r.exit_code == 0, r.output
    assert f"indexed {len(PAPERS)} papers" in r.output
    r = run(papers_group, setup, "search", "graph", "images")
    assert r.exit_code == 0, r.output
    assert "2403.00001" in r.output
    assert "Graph neural networks for images" in r.output
    assert "results for 'graph images'" in r.output


def test_search_options_and_json(papers_group: click.Group, setup: Config) -> None:
    run(papers_group, setup, "reindex")
    r = run(papers_group, setup, "search", "language", "--cat", "cs.LG-cs.CY", "--json")
    data = json.loads(r.output)
    assert [h["id"] for h in data["hits"]] == ["2403.00003"]
    r = run(papers_group, setup, "search", "cat:cs.LG", "--sort", "new", "--limit", "2", "--json")
    data = json.loads(r.output)
    assert len(data["hits"]) == 2
    assert data["pages"] == 3
    r = run(papers_group, setup, "search", "graph", "--since", "2099", "--json")
    assert json.loads(r.output)["hits"] == []


def test_bad_query_exits_1_with_the_message(papers_group: click.Group, setup: Config) -> None:
    run(papers_group, setup, "reindex")
    r = run(papers_group, setup, "search", '"unbalanced')
    assert r.exit_code == 1
    assert "unbalanced quote" in str(r.exception)
    r = run(papers_group, setup, "search", "graph", "--json", "--since", "2024-99")
    assert r.exit_code == 1


def test_reindex_is_refused_while_the_daemon_owns_the_index(papers_group: click.Group, setup: Config) -> None:
    with SearchIndex(setup.storage.index_dir).open():
        r = run(papers_group, setup, "reindex")
        assert r.exit_code == 1
        assert "owned by pid" in str(r.exception)
        assert run(papers_group, setup, "search", "graph").exit_code == 0  # readers are never blocked


def test_check_reports_and_repairs(papers_group: click.Group, setup: Config) -> None:
    run(papers_group, setup, "reindex")
    db = Database(setup.papers_db_url)
    insert_papers(
        db,
        [
            {
                "id": "2403.00300",
                "title": "Late arrival",
                "abstract": "x",
                "authors": ["L"],
                "categories": "cs.LG",
                "ann": [],
            }
        ],
    )
    db.close()
    r = run(papers_group, setup, "check", "--no-repair")
    assert r.exit_code == 1
    assert "1 missing from the index: 2403.00300" in r.output
    r = run(papers_group, setup, "check")
    assert r.exit_code == 0
    assert "repaired" in r.output
    assert "index and database agree" in run(papers_group, setup, "check", "--no-repair").output


def test_no_database_yet_is_a_clear_error(papers_group: click.Group, cfg: Config) -> None:
    r = run(papers_group, cfg, "search", "graph")
    assert r.exit_code == 1
    assert "no paper database" in str(r.exception)


SNAPSHOT = Path(__file__).resolve().parent.parent / "fixtures" / "arxiv" / "snapshot_small.jsonl"


def test_a_cli_import_keeps_the_index_current_through_the_hook_the_root_passes(
    papers_group: click.Group, setup: Config
) -> None:
    run(papers_group, setup, "reindex")
    assert "0704.0001" not in run(papers_group, setup, "search", "diphoton").output
    r = run(papers_group, setup, "import", str(SNAPSHOT), "-q")
    assert r.exit_code == 0, r.output
    r = run(papers_group, setup, "search", "diphoton", "--json")
    assert [h["id"] for h in json.loads(r.output)["hits"]] == ["0704.0001"]


def test_the_crawler_commands_alone_leave_the_index_alone(setup: Config) -> None:
    """No hook passed (the feeds group outside the root): nothing global makes the import index."""
    from feeds.cli import papers as feed_only

    run(papers, setup, "reindex")
    assert run(feed_only, setup, "import", str(SNAPSHOT), "-q").exit_code == 0
    r = run(papers, setup, "search", "diphoton", "--json")
    assert json.loads(r.output)["hits"] == []
