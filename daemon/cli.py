"""The ``coolstove`` command: ``run``, ``config check``, ``stove …`` and ``papers …``.

Every command prints a clear message and exits 1 on a CoolstoveError; nothing
here swallows an error and exits 0.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

import click

from daemon.config import Config, load_config
from daemon.errors import CoolstoveError

__all__ = ["cli", "main", "pass_config"]


class AppContext:
    """Lazily loads the configuration so ``--help`` works with a broken config."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config


pass_app = click.make_pass_decorator(AppContext)


def pass_config(f: Any) -> Any:
    """Decorator: inject the loaded Config as the first argument."""

    @click.pass_context
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        return ctx.invoke(f, ctx.find_object(AppContext).config, *args, **kwargs)

    wrapper.__name__ = f.__name__
    wrapper.__doc__ = f.__doc__
    return wrapper


class LazyGroup(click.Group):
    """Loads ``stove`` and ``papers`` only when asked for: ``coolstove stove off`` stays quick."""

    lazy: ClassVar[dict[str, str]] = {"stove": "devices.cli:stove", "papers": "feeds.cli:papers"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            import importlib

            module, _, attr = self.lazy[name].partition(":")
            try:
                command = getattr(importlib.import_module(module), attr)
            except ImportError as exc:
                raise click.ClickException(f"the {name} commands are not available: {exc}") from exc
            if name == "papers":
                try:
                    from search.cli import register
                except ImportError:
                    pass
                else:
                    register(command)
            self.add_command(command, name)
        return super().get_command(ctx, name)


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "COOLSTOVE"}
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="COOLSTOVE_CONFIG",
    help="TOML config file (default: $COOLSTOVE_CONFIG, else embedded defaults).",
)
@click.version_option(package_name="coolstove")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """coolstove: a gas-stove guard and an arXiv reader in one home daemon."""
    ctx.obj = AppContext(config_path)


@cli.command()
@pass_config
def run(cfg: Config) -> None:
    """Run the daemon in the foreground (systemd supervises it)."""
    from daemon.app import run_daemon

    sys.exit(run_daemon(cfg))


@cli.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("check")
@click.option("--offline", is_flag=True, help="Only validate the file; do not contact devices or the broker.")
@pass_config
def config_check(cfg: Config, offline: bool) -> None:
    """Validate the config, then reach every configured device and the broker."""
    from daemon.check import check_config

    ok = check_config(cfg, offline=offline, echo=click.echo)
    if not ok:
        raise click.exceptions.Exit(1)


def main(argv: list[str] | None = None) -> None:
    from daemon.logging import setup_logging

    setup_logging("WARNING")  # `run` raises it to the configured level
    try:
        rc = cli.main(args=argv, prog_name="coolstove", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CoolstoveError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    if isinstance(rc, int) and rc != 0:
        sys.exit(rc)


if __name__ == "__main__":  # pragma: no cover - `python -m daemon.cli`
    from daemon.cli import main as _main  # the importable module, not this __main__ copy

    _main()

