"""What every ``coolstove`` subcommand receives: the configuration, loaded on first use, and the hooks
the composition root wires between features (so a feature's CLI never imports another feature).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Concatenate, ParamSpec, TypeVar

import click

from core.config import Config, load_config

__all__ = ["CliContext", "CommitHook", "CommitHookFactory", "pass_cli", "pass_config"]

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
    _config: Config | None = field(default=None, init=False, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
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
