"""``coolstove run`` and ``coolstove config check``: the daemon's own commands.

Both use the configuration as loaded (``CliContext.loaded_config``), never a running daemon's record:
a daemon decides its own data folder.
"""

from __future__ import annotations

import sys

import click

from core.clicontext import CliContext, pass_cli
from core.memory import tune_allocator
from daemon.app import run_daemon
from daemon.check import check_config

__all__ = ["config", "run"]


@click.command()
@pass_cli
def run(cli: CliContext) -> None:
    """Run the daemon in the foreground (systemd supervises it)."""
    tune_allocator()
    sys.exit(run_daemon(cli.loaded_config))


@click.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("check")
@click.option("--offline", is_flag=True, help="Only validate the file; do not contact devices or the broker.")
@pass_cli
def config_check(cli: CliContext, offline: bool) -> None:
    """Validate the config, then reach every configured device and the broker."""
    ok = check_config(cli.loaded_config, offline=offline, echo=click.echo)
    if not ok:
        raise click.exceptions.Exit(1)
