"""What every ``coolstove`` subcommand receives: the configuration, loaded on first use, and the hooks
the composition root wires between features (so a feature's CLI never imports another feature).

Two views of the configuration: ``loaded_config`` is the file and the environment as they are (what
``coolstove run`` and ``config check`` use); ``config`` is what a client command uses, and when its data
folder is only a default (no ``[storage] data_dir``, no ``COOLSTOVE_STORAGE__DATA_DIR``) it points at the
running daemon found through its record (:func:`core.config.find_daemon`): that daemon's data folder,
token file and address, whatever the working directory.

The stove's commands need only the daemon's address and token, the :class:`~core.endpoint.Endpoint`:
``endpoint`` reads it with the standard library when it can, and from ``config`` when only the validated
configuration can tell. This module never imports the schema itself (pydantic costs ``coolstove stove
off`` about 0.2 s): the root hands a :class:`ConfigLoader` over.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Concatenate, ParamSpec, Protocol, TypeVar

import click

from core.endpoint import Endpoint, Running, UnsureRecord, find_running, read_endpoint, runtime_files

if TYPE_CHECKING:
    from core.config import Config, DaemonRecord

__all__ = [
    "CliContext",
    "CommitHook",
    "CommitHookFactory",
    "ConfigLoader",
    "looked_in",
    "pass_cli",
    "pass_config",
]

P = ParamSpec("P")
R = TypeVar("R")

CommitHook = Callable[[list[str]], Awaitable[None]]
"""Called with the ids of papers just committed (the search index follows the crawler with it)."""
CommitHookFactory = Callable[["Config"], CommitHook | None]


class ConfigLoader(Protocol):
    """The validated configuration (``core.config``), which the composition root imports when first used."""

    def load(self, path: str | None) -> Config: ...

    def find_daemon(self) -> DaemonRecord | None: ...


@dataclass
class CliContext:
    """Loads the configuration lazily so ``--help`` works with a broken config file."""

    config_path: str | None
    on_commit: CommitHookFactory | None = None
    loader: ConfigLoader | None = None
    #: The running daemon the client view points at (None: none found, or the data folder is explicit).
    daemon: DaemonRecord | None = field(default=None, init=False)
    _loaded: Config | None = field(default=None, init=False, repr=False)
    _config: Config | None = field(default=None, init=False, repr=False)
    _endpoint: Endpoint | None = field(default=None, init=False, repr=False)

    def _loader(self) -> ConfigLoader:
        if self.loader is None:  # a command invoked outside the `coolstove` group (a test calling it)
            raise click.UsageError("this command runs under `coolstove`")
        return self.loader

    @property
    def loaded_config(self) -> Config:
        """The configuration as the file and the environment give it (the daemon's own commands)."""
        if self._loaded is None:
            self._loaded = self._loader().load(self.config_path)
        return self._loaded

    @property
    def config(self) -> Config:
        """The client commands' view: at the running daemon when the data folder is only a default."""
        if self._config is None:
            cfg = self.loaded_config
            if cfg.data_dir_default:
                self.daemon = self._loader().find_daemon()
                if self.daemon is not None:
                    cfg = cfg.at_daemon(self.daemon)
            self._config = cfg
        return self._config

    @property
    def endpoint(self) -> Endpoint:
        """The daemon a client command talks to: read without the schema when that gives the same answer."""
        if self._endpoint is None:
            light = read_endpoint(self.config_path) if self._config is None else None
            self._endpoint = light or _endpoint_of(self.config, self.daemon)
        return self._endpoint

    def find_running(self) -> Running | None:
        """The running daemon, for messages (what ``core.config.find_daemon`` finds)."""
        try:
            return find_running()
        except UnsureRecord:
            record = self._loader().find_daemon()
            return None if record is None else _running(record)

    def commit_hook(self) -> CommitHook | None:
        return self.on_commit(self.config) if self.on_commit is not None else None


def _running(record: DaemonRecord) -> Running:
    return Running(pid=record.pid, data_dir=record.data_dir, listen=record.listen,
                   token_from=record.token_from, path=record.path, pages_listen=record.pages_listen,
                   config=record.config)


def _endpoint_of(cfg: Config, daemon: DaemonRecord | None) -> Endpoint:
    return Endpoint(
        base_url=cfg.http.base_url, client_timeout_s=cfg.http.client_timeout_s, data_dir=cfg.storage.data_dir,
        data_dir_from=cfg.data_dir_from, data_dir_default=cfg.data_dir_default, token=cfg.http.token,
        token_from=cfg.token_from, daemon=None if daemon is None else _running(daemon),
    )


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


def looked_in(cfg: Config | Endpoint) -> str:
    """Where a client command looked for data, for its "there is nothing" messages."""
    data_dir, data_dir_from, default = (
        (cfg.data_dir, cfg.data_dir_from, cfg.data_dir_default) if isinstance(cfg, Endpoint)
        else (cfg.storage.data_dir, cfg.data_dir_from, cfg.data_dir_default)
    )
    where = f"the data folder {data_dir} ({data_dir_from})"
    if default:
        where += f"; no running daemon is recorded in {' or '.join(str(p) for p in runtime_files())}"
    return where
