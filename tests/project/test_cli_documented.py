"""Every ``coolstove`` command and option is in the README (as sqlite-utils checks its docs)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from daemon.cli import cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


Walk = Iterator[tuple[str, click.Command]]


def _commands(group: click.Group, path: tuple[str, ...] = ("coolstove",)) -> Walk:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


COMMANDS = dict(_commands(cli))


def test_the_walk_finds_every_group() -> None:
    groups = {path.split()[1] for path in COMMANDS}
    assert groups == {"config", "papers", "run", "stove", "web"}
    assert {"coolstove papers search", "coolstove stove schedule add", "coolstove run"} <= set(COMMANDS)


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_command_is_in_the_readme(path: str) -> None:
    assert re.search(rf"(?m)(^|`){re.escape(path)}\b", README), f"`{path}` is not documented in README.md"


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_options_are_in_the_readme(path: str) -> None:
    """Each long option appears on a README line that names the command."""
    lines = [ln for ln in README.splitlines() if path in ln]
    for param in COMMANDS[path].params:
        if not isinstance(param, click.Option):
            continue
        longs = [o for o in (*param.opts, *param.secondary_opts) if o.startswith("--")]
        assert any(o in ln for o in longs for ln in lines), f"{path}: {longs} not on its README line"
