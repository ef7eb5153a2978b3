"""`coolstove run` and `coolstove web` tune glibc's allocator before they start (core/memory.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import daemon.cli_daemon as cli_daemon
import daemon.cli_web as cli_web
from core.memory import tune_allocator
from daemon.cli import cli


def test_glibc_takes_the_setting() -> None:
    assert tune_allocator()  # mallopt answers 0 for a parameter it does not know


@pytest.mark.parametrize(
    ("module", "runner", "args"),
    [(cli_daemon, "run_daemon", ["run"]), (cli_web, "run_web", ["web"])],
)
def test_the_long_running_commands_tune_it_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module: object, runner: str, args: list[str]
) -> None:
    order: list[str] = []
    monkeypatch.setattr(module, "tune_allocator", lambda: order.append("tune") or True)
    monkeypatch.setattr(module, runner, lambda *a, **k: order.append("start") or 0)
    monkeypatch.setenv("COOLSTOVE_STORAGE__DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert order == ["tune", "start"]
