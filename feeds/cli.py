"""``coolstove papers …``: crawl, fetch, import and stats (the root adds search's commands beside them).

The writing commands (crawl, fetch, import) open the configured database,
creating and migrating it first; ``stats`` only reads: it never creates a
database or a folder and never migrates, and says so (naming the path and how
to make one) when there is nothing to read. Each command does one job and
prints what happened; errors surface as CoolstoveError so ``coolstove``'s main
prints them and exits 1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import Sequence
from pathlib import Path

import click
from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs (types-tqdm is not installed)

from core.clicontext import CliContext, looked_in, pass_cli, pass_config
from core.config import Config
from core.database import Database
from core.errors import FeedError, InputError, StorageError
from feeds.ids import normalize_id
from feeds.importer import import_snapshot
from feeds.migrate import current_revision, head_revision, upgrade
from feeds.service import CrawlResult, FeedService
from feeds.stats import collect_stats, format_stats
from feeds.store import get_papers

__all__ = ["papers"]

CATEGORY_RE = re.compile(r"^[a-z-]+(\.[A-Za-z-]+)?$")


def _open(cfg: Config) -> Database:
    """The database for a writing command: created and migrated as needed."""
    upgrade(cfg.papers_db_url)
    return Database(cfg.papers_db_url)


CREATE_HINT = "create it with `coolstove papers crawl` or `coolstove papers import FILE` (or run the daemon)"


def _open_existing(cfg: Config) -> Database:
    """The database for a reading command: it must exist at the current schema; nothing is created."""
    url = cfg.papers_db_url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            where = looked_in(cfg) if cfg.papers.database_url is None else "[papers] database_url"
            raise StorageError(f"no paper database at {path} ({where}): {CREATE_HINT}")
    where = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else "[papers] database_url"
    revision, head = current_revision(url), head_revision()
    if revision is None:
        raise StorageError(f"the paper database at {where} is empty: {CREATE_HINT}")
    if revision != head:
        raise StorageError(
            f"the paper database at {where} is at schema {revision}, this coolstove reads {head}: a read "
            "does not migrate; `coolstove papers crawl` (or the daemon's next start) migrates it"
        )
    return Database(url)


def _categories(values: Sequence[str]) -> list[str]:
    for cat in values:
        if not CATEGORY_RE.match(cat):
            raise click.BadParameter(f"{cat!r} is not an arXiv category like cs.LG", param_hint="--category")
    return list(values)


@click.group()
def papers() -> None:
    """The arXiv reader: crawl the daily feeds, fetch papers, import the snapshot."""


@papers.command()
@click.option(
    "--category",
    "-c",
    "categories",
    multiple=True,
    help="Category to crawl (repeatable; default: the configured ones).",
)
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Backfill this past day through OAI-PMH instead of reading today's feed.",
)
@click.option(
    "--until",
    "until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="With --date: backfill the whole range up to this day.",
)
@pass_cli
def crawl(
    cli: CliContext, categories: tuple[str, ...], day: dt.datetime | None, until: dt.datetime | None
) -> None:
    """Crawl today's feeds, or backfill --date D.

    Without --date: read each category's announcement feed (rss.arxiv.org) and
    complete the new papers from the query API. With --date (and --until):
    harvest that range from OAI-PMH instead (papers only; the feed alone knows
    announcement days).
    """
    cfg = cli.config
    cats = _categories(categories) or list(cfg.papers.categories)
    if until is not None and day is None:
        raise click.BadParameter("--until needs --date", param_hint="--until")
    if day is not None and until is not None and until < day:
        raise click.BadParameter("--until is before --date", param_hint="--until")
    if day is not None and day.date() > dt.date.today():
        raise click.BadParameter("--date is in the future", param_hint="--date")

    async def go() -> list[CrawlResult] | int:
        db = _open(cfg)
        try:
            async with FeedService(cfg, db, cli.commit_hook()) as service:
                if day is not None:
                    return await service.backfill(day.date(), (until or day).date(), cats)
                return await service.crawl(cats)
        finally:
            db.close()

    outcome = asyncio.run(go())
    if isinstance(outcome, int):
        click.echo(f"backfilled {outcome} papers for {', '.join(cats)}")
        return
    failed = False
    for r in outcome:
        date = f" {r.announce_date}" if r.announce_date else ""
        entries = f", {r.entries} papers" if r.status == "ok" else ""
        detail = f" ({r.detail})" if r.detail else ""
        click.echo(f"{r.category}: {r.status}{date}{entries}{detail}")
        failed |= r.status == "error"
    if failed:
        raise FeedError("some categories could not be crawled (see above)")


@papers.command()
@click.argument("ids", nargs=-1, required=True)
@pass_cli
def fetch(cli: CliContext, ids: tuple[str, ...]) -> None:
    """Fetch papers by id, ahead of any crawl.

    IDS may be 2401.06769, arXiv:2401.06769v2, hep-th/9901001 or abs/pdf URLs.
    Papers already complete in the database are not fetched again.
    """
    cfg = cli.config
    wanted = list(dict.fromkeys(normalize_id(i) for i in ids))  # InputError before any request

    async def go() -> list[tuple[str, str]]:
        db = _open(cfg)
        try:
            async with FeedService(cfg, db, cli.commit_hook()) as service:
                found = await service.fetch_now(wanted)
            rows = await db.read(lambda s: [(p.id, p.title) for p in get_papers(s, found)])
        finally:
            db.close()
        return rows

    rows = dict(asyncio.run(go()))
    for pid in wanted:
        click.echo(f"{pid}  {rows[pid]}" if pid in rows else f"{pid}  (not on arXiv)")
    missing = [p for p in wanted if p not in rows]
    if missing:
        raise InputError(f"{len(missing)} of {len(wanted)} ids are not on arXiv: {', '.join(missing[:10])}")


@papers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option(
    "--batch-size",
    default=2000,
    show_default=True,
    type=click.IntRange(1, 50_000),
    help="Papers per transaction.",
)
@click.option(
    "--max-bad",
    default=100,
    show_default=True,
    type=click.IntRange(0, None),
    help="Stop after this many unreadable lines.",
)
@click.option(
    "--restart", is_flag=True, help="Start from the first line even if an earlier import was cut short."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@pass_cli
def import_(cli: CliContext, file: str, batch_size: int, max_bad: int, restart: bool, quiet: bool) -> None:
    """Import arXiv's metadata snapshot (JSONL/.gz).

    Constant memory whatever the file size; each batch is one transaction and
    an import cut short resumes where it stopped when run again on the same file.
    """
    db = _open(cli.config)
    hook = cli.commit_hook()
    runner = asyncio.Runner() if hook is not None else None
    bar = tqdm(total=None, unit="B", unit_scale=True, desc="import", disable=True if quiet else None)
    last = [0]

    def progress(position: int, papers_done: int) -> None:
        if bar.total is None:
            bar.total = Path(file).stat().st_size
        bar.update(position - last[0])
        last[0] = position
        bar.set_postfix(papers=papers_done, refresh=False)

    def on_commit(ids: list[str]) -> None:
        if hook is not None and runner is not None:

            async def call() -> None:
                await hook(ids)

            runner.run(call())

    try:
        result = import_snapshot(
            db,
            file,
            batch_size=batch_size,
            max_bad=max_bad,
            resume=not restart,
            progress=progress,
            on_commit=on_commit if hook else None,
        )
    finally:
        bar.close()
        if runner is not None:
            runner.close()
        db.close()
    rate = result.papers / result.seconds if result.seconds else 0.0
    resumed = f", resumed after line {result.resumed_from}" if result.resumed_from else ""
    click.echo(
        f"imported {result.papers} papers from {result.lines} lines in {result.seconds:.1f} s "
        f"({rate:.0f} papers/s{resumed})"
    )
    if result.bad:
        click.echo(f"{result.bad} bad lines skipped:", err=True)
        for bad in result.bad_samples:
            click.echo(f"  line {bad.line_no}: {bad.reason}", err=True)


@papers.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--days", default=7, show_default=True, type=click.IntRange(1, 366), help="Listing days to count."
)
@pass_config
def stats(cfg: Config, as_json: bool, days: int) -> None:
    """Counts by category and day; the last crawl (reads only: a missing database is an error)."""
    db = _open_existing(cfg)
    try:
        data = db.read_blocking(lambda s: collect_stats(s, days))
    finally:
        db.close()
    click.echo(json.dumps(data, indent=2) if as_json else format_stats(data))
