"""``coolstove papers …`` as a user runs it: output, exit codes, and clear errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from arxiv_replay import FIXTURES, ReplayServer, Reply, fixture
from click.testing import CliRunner

from core.errors import CoolstoveError
from daemon.cli import cli
from feeds.migrate import BASE_REVISION, current_revision, head_revision, upgrade


def write_config(tmp_path: Path, replay: ReplayServer) -> Path:
    path = tmp_path / "coolstove.toml"
    path.write_text(
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[papers]\ncategories = ["cs.LG"]\nrss_url = "{replay.url("/atom/{category}")}"\n'
        f'api_url = "{replay.url("/api/query")}"\noai_url = "{replay.url("/oai")}"\ntimeout_s = 5.0\n'
    )
    return path


def run(config: Path, *args: str) -> tuple[int, str, str]:
    """Like ``coolstove``: a CoolstoveError prints ``error: …`` and exits 1."""
    result = CliRunner(mix_stderr=False).invoke(cli, ["--config", str(config), "papers", *args])
    err = result.stderr
    code = result.exit_code
    if isinstance(result.exception, CoolstoveError):
        err += f"error: {result.exception}\n"
        code = 1
    elif result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return code, result.stdout, err


@pytest.fixture
def config(tmp_path: Path, replay: ReplayServer) -> Path:
    return write_config(tmp_path, replay)


def test_crawl_then_stats(config: Path, replay: ReplayServer) -> None:
    replay.add("/atom/cs.LG", Reply(body=fixture("rss_cs.LG_2024-01-15.xml")))
    replay.add("/api/query", Reply(body=fixture("api_2024-01-15_details.xml")))
    code, out, err = run(config, "crawl")
    assert code == 0, err
    assert out.strip() == "cs.LG: ok 2024-01-15, 5 papers (new 2, cross 1, replace 1, replace-cross 1)"
    code, out, _ = run(config, "stats", "--json")
    stats = json.loads(out)
    assert stats["papers"] == 5
    assert stats["by_source"] == {"api": 5}
    assert stats["announcements"]["2024-01-15"]["cs.LG"] == {
        "new": 2,
        "cross": 1,
        "replace": 1,
        "replace-cross": 1,
        "total": 5,
    }
    assert stats["last_crawl"]["kind"] == "rss"
    assert stats["last_crawl"]["status"] == "ok"
    code, out, _ = run(config, "stats")
    assert code == 0
    assert "papers: 5 (api 5)" in out
    assert "2024-01-15  cs.LG" in out
    assert "last crawl: rss cs.LG" in out


def test_crawl_failure_exits_1_and_says_why(config: Path, replay: ReplayServer) -> None:
    replay.add("/atom/cs.LG", Reply(body=fixture("html_error.html"), content_type="text/html"))
    code, out, err = run(config, "crawl")
    assert code == 1
    assert "cs.LG: error" in out
    assert "HTML page" in out
    assert "could not be crawled" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["crawl", "--category", "Robert'); DROP TABLE papers;--"], "not an arXiv category"),
        (["crawl", "--date", "yesterday"], "does not match the format"),
        (["crawl", "--until", "2024-01-10"], "--until needs --date"),
        (["crawl", "--date", "2024-01-10", "--until", "2024-01-01"], "before --date"),
        (["crawl", "--date", "2999-01-01"], "in the future"),
        (["fetch"], "Missing argument"),
        (["import", "/no/such/file.jsonl"], "does not exist"),
        (["import", str(FIXTURES / "snapshot_small.jsonl"), "--batch-size", "0"], "0 is not in the range"),
        (["stats", "--days", "-1"], "not in the range"),
    ],
)
def test_bad_arguments_are_usage_errors(
    config: Path, replay: ReplayServer, args: list[str], message: str
) -> None:
    code, _, err = run(config, *args)
    assert code == 2
    assert message in err
    assert replay.hits == []


def test_fetch_reports_found_and_missing(config: Path, replay: ReplayServer) -> None:
    replay.add("/api/query", Reply(body=fixture("api_2401.07002.xml")))
    code, out, err = run(config, "fetch", "arXiv:2401.07002v1", "2401.99999")
    assert code == 1
    assert out.splitlines() == [
        "2401.07002  Learning the Schrödinger Equation with Gödel Machines",
        "2401.99999  (not on arXiv)",
    ]
    assert "1 of 2 ids are not on arXiv: 2401.99999" in err


def test_fetch_refuses_a_bad_id_without_any_request(config: Path, replay: ReplayServer) -> None:
    code, _, err = run(config, "fetch", "2401.07002", "../../etc/passwd")
    assert code == 1
    assert "not an arXiv id" in err
    assert replay.hits == []


def test_fetch_api_error_entry_is_reported(config: Path, replay: ReplayServer) -> None:
    replay.add("/api/query", Reply(400, fixture("api_error.xml")))
    code, _, err = run(config, "fetch", "2401.07003")
    assert code == 1
    assert "incorrect id format" in err


def test_import_prints_a_summary_and_bad_lines(config: Path) -> None:
    code, out, _ = run(config, "import", str(FIXTURES / "snapshot_small.jsonl"), "-q")
    assert code == 0
    assert out.startswith("imported 4 papers from 4 lines")
    code, out, err = run(config, "import", str(FIXTURES / "snapshot_bad_lines.jsonl"), "-q")
    assert code == 0
    assert out.startswith("imported 2 papers from 10 lines")
    assert "7 bad lines skipped" in err
    assert "line 3: not valid JSON" in err
    code, _, err = run(config, "import", str(FIXTURES / "snapshot_bad_lines.jsonl"), "-q", "--max-bad", "2")
    assert code == 1
    assert "more than 2 bad lines" in err
    code, out, _ = run(config, "stats", "--json")
    assert json.loads(out)["papers"] == 5  # 1406.2661 is in both files: one paper


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["papers", "--help"])
    assert result.exit_code == 0
    for name in ("crawl", "fetch", "import", "stats"):
        assert name in result.output


def test_stats_without_a_database_creates_nothing(config: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    code, out, err = run(config, "stats")
    assert code == 1
    assert out == ""
    assert f"no paper database at {data / 'papers.db'}" in err
    assert f"[storage] data_dir in {config}" in err, "says where the folder came from"
    assert "`coolstove papers crawl` or `coolstove papers import FILE`" in err
    assert not data.exists(), "a read makes no folder and no database"


def test_stats_does_not_migrate_an_old_database(config: Path, tmp_path: Path) -> None:
    db = tmp_path / "data" / "papers.db"
    url = f"sqlite:///{db}"
    upgrade(url, BASE_REVISION)
    code, _, err = run(config, "stats")
    assert code == 1
    head = head_revision()
    assert f"the paper database at {db} is at schema {BASE_REVISION}, this coolstove reads {head}" in err
    assert current_revision(url) == BASE_REVISION, "the read left it as it was"
    code, out, _ = run(config, "import", str(FIXTURES / "snapshot_small.jsonl"), "-q")  # a write migrates
    assert code == 0
    assert current_revision(url) == head_revision()
    code, out, _ = run(config, "stats", "--json")
    assert code == 0
    assert json.loads(out)["papers"] == 4
