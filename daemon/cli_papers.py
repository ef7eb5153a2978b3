"""``coolstove papers …``: the crawler's commands with search's beside them, and the index following
every crawl the CLI makes (the hook is handed to the crawler's commands here, never set globally).
"""

from __future__ import annotations

import click

from core.clicontext import CliContext
from feeds.cli import papers as feed_commands
from search.cli import COMMANDS as SEARCH_COMMANDS
from search.cli import commit_hook

__all__ = ["papers"]


@click.group(help=feed_commands.help, commands=[*feed_commands.commands.values(), *SEARCH_COMMANDS])
@click.pass_obj
def papers(cli: CliContext) -> None:
    cli.on_commit = commit_hook
