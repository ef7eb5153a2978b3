"""What every ``coolstove`` subcommand receives: the configuration, loaded on first use, and the hooks
the composition root wires between features (so a feature's CLI never imports another feature).

Two views of the configuration: ``loaded_config`` is the file and the environment as they are (what
``coolstove run`` and ``config check`` use); ``config`` is what a client command uses, and when its data
folder is only a default (no ``[storage] data_dir``, no ``COOLSTOVE_STORAGE__DATA_DIR``) it points at the
running daemon found through its record (:func:`core.config.find_daemon`): that daemon's data folder,
token file and address, whatever the working directory.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Concatenate, ParamSpec, TypeVar

import click

from core.config import Config, DaemonRecord, find_daemon, load_config, runtime_files

__all__ = ["CliContext", "CommitHook", "CommitHookFactory", "looked_in", "pass_cli", "pass_config"]

P = ParamSpec("P")
R = TypeVar("R")

CommitHook = Callable[[list[str]], Awaitable[None]]
"""Called with the ids of papers just committed (the search index follows the crawler with it)."""
CommitHookFactory = Callable[[Config], CommitHook | None]


@dataclass
class CliContext:
    """Loads the configuration lazily so ``--help`` works with a broken config file."""

    config_path: str | None
    on_commit: CommitHookFactory | None = None
    #: The running daemon the client view points at (None: none found, or the data folder is explicit).
    daemon: DaemonRecord | None = field(default=None, init=False)
    _loaded: Config | None = field(default=None, init=False, repr=False)
    _config: Config | None = field(default=None, init=False, repr=False)

    @property
    def loaded_config(self) -> Config:
        """The configuration as the file and the environment give it (the daemon's own commands)."""
        if self._loaded is None:
            self._loaded = load_config(self.config_path)
        return self._loaded

    @property
    def config(self) -> Config:
        """The client commands' view: at the running daemon when the data folder is only a default."""
        if self._config is None:
            cfg = self.loaded_config
            if cfg.data_dir_default:
                self.daemon = find_daemon()
                if self.daemon is not None:
                    cfg = cfg.at_daemon(self.daemon)
            self._config = cfg
        return self._config

    def commit_hook(self) -> CommitHook | None:
        return self.on_commit(self.config) if self.on_commit is not None else None


def _context() -> CliContext:
    obj = click.get_current_context().find_object(CliContext)
    if obj is None:  # a command invoked outside the `coolstove` group (a test calling it directly)
        raise click.UsageError("this command runs under `coolstove`")
    return obj


def pass_cli(f: Callable[Concatenate[CliContext, P], R]) -> Callable[P, R]:
    """Decorator: inject the CliContext as the first argument."""

    @functools.wraps(f)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return f(_context(), *args, **kwargs)

    return wrapper


def pass_config(f: Callable[Concatenate[Config, P], R]) -> Callable[P, R]:
    """Decorator: inject the loaded Config as the first argument."""

    @functools.wraps(f)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return f(_context().config, *args, **kwargs)

    return wrapper


def looked_in(cfg: Config) -> str:
    """Where a client command looked for data, for its "there is nothing" messages."""
    where = f"the data folder {cfg.storage.data_dir} ({cfg.data_dir_from})"
    if cfg.data_dir_default:
        where += f"; no running daemon is recorded in {' or '.join(str(p) for p in runtime_files())}"
    return where
