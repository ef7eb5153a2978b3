"""``coolstove run`` and ``coolstove config check``: the daemon's own commands."""

from __future__ import annotations

import sys

import click

from core.clicontext import pass_config
from core.config import Config
from daemon.app import run_daemon
from daemon.check import check_config

__all__ = ["config", "run"]


@click.command()
@pass_config
def run(cfg: Config) -> None:
    """Run the daemon in the foreground (systemd supervises it)."""
    sys.exit(run_daemon(cfg))


@click.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("check")
@click.option("--offline", is_flag=True, help="Only validate the file; do not contact devices or the broker.")
@pass_config
def config_check(cfg: Config, offline: bool) -> None:
    """Validate the config, then reach every configured device and the broker."""
    ok = check_config(cfg, offline=offline, echo=click.echo)
    if not ok:
        raise click.exceptions.Exit(1)
