"""``coolstove papers search | reindex | check``: the index from a terminal.

``search`` opens the index read-only, so it works while the daemon runs (Whoosh
readers never block). ``reindex`` and ``check`` (with repair) need to own the
index and refuse, naming the daemon's pid, while it holds it. The composition
root adds ``COMMANDS`` to ``coolstove papers`` and passes ``commit_hook`` to the
crawler's commands (crawl, fetch, import), which then keep the index current when
the daemon is not running.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sys
import textwrap
import time
from pathlib import Path

import click

from core.clicontext import CommitHook, pass_config
from core.config import Config
from core.database import Database
from core.errors import InputError, SearchError, StorageError
from search.index import SearchIndex
from search.query import QueryError, parse_date
from search.results import Hit, SearchResult, Segments, count_of
from search.web.catspec import parse_spec

__all__ = ["COMMANDS", "commit_hook"]

_LOGGER = logging.getLogger(__name__)
_SPACES_RE = re.compile(r"(\s+)")


def _open_db(cfg: Config) -> Database:
    url = cfg.papers_db_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise StorageError(
            f"no paper database at {url.removeprefix('sqlite:///')} yet (run the daemon or "
            "`coolstove papers crawl` / `coolstove papers import` first)"
        )
    return Database(url)


def _index(cfg: Config) -> SearchIndex:
    return SearchIndex.for_config(cfg)


def _styled(word: list[tuple[str, bool]]) -> str:
    return "".join(click.style(t, bold=True, fg="yellow") if m else t for t, m in word)


def _wrapped(segments: Segments, width: int, indent: str) -> str:
    """Wrap highlighted text at ``width`` columns, the marks kept.

    A word is everything between two runs of whitespace, whichever segments it
    spans: a match followed by punctuation ("Kollár" marked, then "'s") stays
    one word, printed as in the source. Runs of whitespace (arXiv's line breaks)
    become one space.
    """
    words: list[list[tuple[str, bool]]] = [[]]
    for text, matched in segments:
        for part in _SPACES_RE.split(text):
            if not part:
                continue
            if part.isspace():
                if words[-1]:
                    words.append([])
            else:
                words[-1].append((part, matched))
    room = max(width - len(indent), 20)
    lines: list[str] = []
    line: list[str] = []
    length = 0
    for word in filter(None, words):
        size = sum(len(t) for t, _ in word)
        if line and length + 1 + size > room:
            lines.append(" ".join(line))
            line, length = [], 0
        length += size + (1 if line else 0)
        line.append(_styled(word))
    if line:
        lines.append(" ".join(line))
    return "\n".join(indent + ln for ln in lines)


def _print_hit(hit: Hit, width: int) -> None:
    head = f"{hit.rank:>3}. {hit.id}"
    if hit.announced:
        head += f"  {hit.announced.isoformat()}"
    if hit.categories:
        head += "  " + " ".join(hit.categories)
    click.echo(click.style(head, dim=True))
    title = " ".join(hit.title.split()) if hit.title else "(not in the database)"
    click.echo(_wrapped(hit.title_hl or [(title, False)], width, "     "))
    if hit.authors:
        names = ", ".join(hit.authors[:8]) + (f" … (+{len(hit.authors) - 8})" if len(hit.authors) > 8 else "")
        click.echo(textwrap.fill(names, width, initial_indent="     ", subsequent_indent="     "))
    if hit.snippet:
        click.echo(_wrapped(hit.snippet, width, "     "))
    click.echo()


def _print_result(result: SearchResult, query: str) -> None:
    width = min(100, shutil.get_terminal_size((100, 24)).columns)
    if not result.hits:
        click.echo(f"no papers match {query!r}")
        return
    click.echo(
        f"{result.count_text} for {query!r} (page {result.page} of {result.pages}, "
        f"{'newest first' if result.sort == 'new' else 'by relevance'})\n"
    )
    for hit in result.hits:
        _print_hit(hit, width)
    if result.page < result.pages:
        click.echo(click.style(f"more: --page {result.page + 1}", dim=True))


@click.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option(
    "--cat", "cat", metavar="C", help="Categories: cs.LG, cs.AI+cs.LG, cs.LG-cs.CY, or an archive (cs)."
)
@click.option("--since", metavar="D", help="Announced on or after D (YYYY, YYYY-MM or YYYY-MM-DD).")
@click.option("--until", metavar="D", help="Announced on or before D.")
@click.option("--sort", type=click.Choice(["relevance", "new"]), default="relevance", show_default=True)
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True, help="Results per page.")
@click.option("--page", type=click.IntRange(1), default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_config
def search_cmd(
    cfg: Config,
    query: tuple[str, ...],
    cat: str | None,
    since: str | None,
    until: str | None,
    sort: str,
    limit: int,
    page: int,
    as_json: bool,
) -> None:
    """Search the papers: words, "phrases", ti: au: abs: cat: id: date:, OR, NOT/-word."""
    text = " ".join(query)
    try:
        spec = parse_spec(cat).expanded() if cat else None  # an alias filters as its category
        since_d = parse_date(since) if since else None
        until_d = parse_date(until, end=True) if until else None
    except QueryError as exc:
        raise InputError(str(exc)) from exc
    db = _open_db(cfg)
    try:
        with _index(cfg).open(owner=False) as index:
            result = index.search(
                text,
                categories=spec.include if spec else None,
                exclude=spec.exclude if spec else None,
                since=since_d,
                until=until_d,
                sort=sort,
                page=page,
                pagelen=limit,
                db=db,
            )
    finally:
        db.close()
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=1))
        if result.error:
            raise click.exceptions.Exit(1)
        return
    if result.error:
        raise InputError(result.error)
    _print_result(result, text)


@click.command("reindex")
@pass_config
def reindex_cmd(cfg: Config) -> None:
    """Rebuild the search index from the database (refused while the daemon owns the index)."""
    db = _open_db(cfg)
    try:
        with _index(cfg).open(owner=True) as index:
            started = time.monotonic()
            count = index.reindex(db, progress=lambda n: click.echo(f"  {count_of(n, 'paper')} …", err=True))
            elapsed = max(time.monotonic() - started, 1e-9)
            rate = f"{count / elapsed:,.0f} papers/s"
            click.echo(f"indexed {count_of(count, 'paper')} in {elapsed:.1f} s ({rate})")
    finally:
        db.close()


@click.command("check")
@click.option("--repair/--no-repair", default=True, show_default=True, help="Fix the differences found.")
@pass_config
def check_cmd(cfg: Config, repair: bool) -> None:
    """Compare the search index with the database; exit 1 if they still differ."""
    db = _open_db(cfg)
    try:
        with _index(cfg).open(owner=repair) as index:
            report = index.check(db, repair=repair)
    finally:
        db.close()
    click.echo(f"database: {count_of(report.in_database, 'paper')}; index: {report.in_index:,}")
    for label, ids in (
        ("missing from the index", report.missing),
        ("stale in the index", report.stale),
        ("no longer in the database", report.extra),
    ):
        if ids:
            shown = ", ".join(ids[:10]) + (f" … (+{len(ids) - 10})" if len(ids) > 10 else "")
            click.echo(f"{len(ids):,} {label}: {shown}")
    if report.clean:
        click.echo("index and database agree")
    elif report.repaired:
        click.echo("repaired")
    else:
        raise click.exceptions.Exit(1)


def commit_hook(cfg: Config) -> CommitHook:
    """An ``on_commit`` for CLI crawls: update the index if this process may own it (else the daemon does)."""
    opened: list[tuple[SearchIndex, Database]] = []
    skip = False

    async def on_commit(ids: list[str]) -> None:
        nonlocal skip
        if skip:
            return
        if not opened:
            try:
                opened.append((_index(cfg).open(owner=True), _open_db(cfg)))
            except (SearchError, StorageError) as exc:
                click.echo(
                    f"search index not updated here ({exc}); "
                    "the running daemon indexes these papers itself within seconds",
                    err=True,
                )
                skip = True
                return
        index, db = opened[0]
        await index.update(db, ids)

    return on_commit


COMMANDS: tuple[click.Command, ...] = (search_cmd, reindex_cmd, check_cmd)
"""What this package adds to ``coolstove papers``."""


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `coolstove papers search`")
