"""The CLI's own entry point: help, bad arguments and bad config give clear errors, never tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daemon.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)})


def test_help_lists_every_command(tmp_path: Path) -> None:
    r = run("--help", cwd=tmp_path)
    assert r.returncode == 0
    for name in ("run", "config", "stove", "papers"):
        assert name in r.stdout
    for group in (("stove",), ("stove", "schedule"), ("papers",), ("config",)):
        r = run(*group, "--help", cwd=tmp_path)
        assert r.returncode == 0, group
        assert "Usage:" in r.stdout, group


def test_unknown_command_and_bad_options(tmp_path: Path) -> None:
    r = run("explode", cwd=tmp_path)
    assert r.returncode == 2
    assert "No such command" in r.stderr
    r = run("stove", "log", "--limit", "abc", cwd=tmp_path)
    assert r.returncode == 2
    assert "abc" in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[mqtt]\nport = 'many'\n")
    for args in (("config", "check", "--offline"), ("stove", "status"), ("run",)):
        r = run("--config", str(bad), *args, cwd=tmp_path)
        assert r.returncode == 1, args
        assert "[mqtt] port: expected an integer" in r.stderr
        assert "Traceback" not in r.stderr
    r = run("--config", str(tmp_path / "missing.toml"), "config", "check", cwd=tmp_path)
    assert r.returncode == 1
    assert "does not exist" in r.stderr


def test_config_check_offline_on_defaults(tmp_path: Path) -> None:
    r = run("config", "check", "--offline", cwd=tmp_path)
    assert r.returncode == 0
    assert "embedded defaults" in r.stdout
    r = run("config", "check", cwd=tmp_path)  # the simulated relay answers
    assert r.returncode == 0
    assert "ok    burner burner (simulated)" in r.stdout
