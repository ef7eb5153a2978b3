"""``coolstove papers search | reindex | check`` through click's runner, on a real database and index."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from search_data import PAPERS, analysed_documents, insert_papers, load_real_papers

from core.clicontext import CliContext
from core.config import Config
from core.database import Database
from daemon.cli_papers import papers
from feeds.cli import papers as feed_only
from feeds.models import Base
from search.index import SearchIndex


@pytest.fixture
def papers_group() -> click.Group:
    """``coolstove papers`` as the root assembles it: the crawler's commands and search's."""
    return papers


@pytest.fixture
def setup(cfg: Config, tmp_path: Path) -> Config:
    db = Database(cfg.papers_db_url)
    Base.metadata.create_all(db.engine)
    insert_papers(db, PAPERS)
    db.close()
    return cfg


def _context(cfg: Config) -> CliContext:
    ctx = CliContext(None)
    ctx._config = cfg
    return ctx


def run(group: click.Group, cfg: Config, *args: str) -> click.testing.Result:
    return CliRunner().invoke(group, list(args), obj=_context(cfg), catch_exceptions=True)


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
    run(papers, setup, "reindex")
    assert run(feed_only, setup, "import", str(SNAPSHOT), "-q").exit_code == 0
    r = run(papers, setup, "search", "diphoton", "--json")
    assert json.loads(r.output)["hits"] == []


# ---------------------------------------------------------------- real records (../shared/arxiv-samples)
@pytest.fixture
def real_setup(cfg: Config, shared_dir: Path) -> Config:
    samples = shared_dir / "arxiv-samples"
    if not samples.is_dir():
        pytest.skip("../shared/arxiv-samples is absent")
    db = Database(cfg.papers_db_url)
    Base.metadata.create_all(db.engine)
    load_real_papers(db, samples)
    db.close()
    r = run(papers, cfg, "reindex")
    assert r.exit_code == 0, r.output
    return cfg


def test_a_prefix_search_prints_its_exact_count_and_hits_not_a_traceback(
    real_setup: Config, caplog: pytest.LogCaptureFixture
) -> None:
    """``transform*``, the search page's own example, failed with ValueError (logged with a traceback)."""
    db = Database(real_setup.papers_db_url)
    try:
        docs = analysed_documents(db)
    finally:
        db.close()
    want = {d.id for d in docs if any(t.startswith("transform") for terms in d.terms.values() for t in terms)}
    caplog.set_level(logging.WARNING)
    r = run(papers, real_setup, "search", "transform*", "--limit", "200")
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"{len(want)} results for 'transform*' (page 1 of 1, by relevance)")
    assert set(re.findall(r"^ +\d+\. (\S+)", r.output, re.M)) == want
    assert not [rec for rec in caplog.records if rec.levelno >= logging.WARNING]


def test_a_real_title_with_syntax_characters_finds_its_paper_and_says_1_result(real_setup: Config) -> None:
    r = run(papers, real_setup, "search", "Hilbert C^* modules")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("1 result for 'Hilbert C^* modules' (page 1 of 1, by relevance)")
    assert "0704.0110" in r.output
    assert "On Equivariant Embedding of Hilbert C^* modules" in r.output


def test_highlighted_words_join_the_text_exactly_as_in_the_source(real_setup: Config) -> None:
    """A match followed by punctuation ("Kollár" + "'s") printed "Kollár 's"; marks must stay on the match."""
    ctx = CliContext(None)
    ctx._config = real_setup
    r = CliRunner().invoke(papers, ["search", "Kollár"], obj=ctx, color=True)
    assert r.exit_code == 0, r.output
    on = click.style("Kollár", bold=True, fg="yellow")
    assert f"A transcendental approach to {on}'s injectivity theorem" in r.output
    assert f"We treat {on}'s injectivity theorem" in r.output  # the snippet too
    r = run(papers, real_setup, "search", "quark", "--limit", "3")  # no colour: the text alone
    assert "Multiple Parton Scattering in Nuclei: Quark-quark Scattering" in r.output
    assert "modifications to quark (antiquark)" in r.output
    assert "by the antiquark (quark) distribution" in r.output


def test_long_highlighted_text_wraps_at_the_width_without_losing_a_word(
    real_setup: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    r = run(papers, real_setup, "search", "quark", "--limit", "3")
    body = [ln for ln in r.output.splitlines() if ln.startswith("     ")]
    assert len(body) > 10
    assert max(len(ln) for ln in body) <= 60
    text = " ".join(ln.strip() for ln in r.output.splitlines())
    title = "Understanding the Flavor Symmetry Breaking and Nucleon Flavor-Spin Structure within Chiral Quark"
    assert title in text


def test_counts_agree_with_their_nouns(papers_group: click.Group, setup: Config, tmp_path: Path) -> None:
    r = run(papers_group, setup, "reindex")
    assert f"indexed {len(PAPERS)} papers in" in r.output
    r = run(papers_group, setup, "search", "spin")
    assert r.output.startswith("1 result for 'spin' (page 1 of 1, by relevance)")
    r = run(papers_group, setup, "search", "graph")
    assert r.output.startswith("2 results for 'graph'")


def test_cat_filter_follows_arxiv_aliases(papers_group: click.Group, setup: Config) -> None:
    db = Database(setup.papers_db_url)
    insert_papers(db, [{"id": "2403.00400", "title": "Multigrid solvers", "abstract": "numerical multigrid",
                        "authors": ["N"], "categories": "math.NA", "ann": []}])
    db.close()
    run(papers_group, setup, "reindex")
    for cat in ("cs.NA", "math.NA"):  # one category to arXiv since the merge
        r = run(papers_group, setup, "search", "multigrid", "--cat", cat, "--json")
        assert [h["id"] for h in json.loads(r.output)["hits"]] == ["2403.00400"], cat


def test_an_import_beside_the_daemon_says_the_daemon_indexes_it(
    papers_group: click.Group, setup: Config
) -> None:
    with SearchIndex(setup.storage.index_dir).open():  # the daemon owns the index
        r = CliRunner(mix_stderr=False).invoke(
            papers_group, ["import", str(SNAPSHOT), "-q"], obj=_context(setup), catch_exceptions=False
        )
    assert r.exit_code == 0
    assert "the running daemon indexes these papers itself" in r.stderr
