"""The ``coolstove`` command: ``run``, ``config check``, ``stove …`` and ``papers …``.

Every command prints a clear message and exits 1 on a CoolstoveError; nothing
here swallows an error and exits 0.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, ClassVar

import click

from core.clicontext import CliContext
from core.errors import CoolstoveError
from core.logging import setup_logging

if TYPE_CHECKING:
    from core.config import Config, DaemonRecord

__all__ = ["cli", "main"]


class LazyGroup(click.Group):
    """Loads ``stove``, ``papers`` and ``web`` only when asked for: ``coolstove stove off`` stays quick.

    The names point at the modules that assemble each group (``daemon.cli_*`` and the stove guard's
    commands: importing search and the crawler costs ~0.35 s that the stove commands do not need,
    and the daemon's own modules load only for ``run`` and ``config``.
    """

    lazy: ClassVar[dict[str, str]] = {
        "run": "daemon.cli_daemon:run",
        "config": "daemon.cli_daemon:config",
        "stove": "devices.cli:stove",
        "papers": "daemon.cli_papers:papers",
        "web": "daemon.cli_web:web",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            module, _, attr = self.lazy[name].partition(":")
            command = getattr(importlib.import_module(module), attr)
            assert isinstance(command, click.Command)
            self.add_command(command, name)
        return super().get_command(ctx, name)


class SchemaLoader:
    """The validated configuration, imported when a command first needs it: the stove's commands
    usually do not (``core.endpoint`` reads their address and token), and pydantic costs them ~0.2 s."""

    def load(self, path: str | None) -> Config:
        from core.config import load_config  # pydantic: only for commands that need the whole config

        return load_config(path)

    def find_daemon(self) -> DaemonRecord | None:
        from core.config import find_daemon  # pydantic: only for commands that need the whole config

        return find_daemon()


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
    ctx.obj = CliContext(config_path, loader=SchemaLoader())


def main(argv: list[str] | None = None) -> None:
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
    main()

