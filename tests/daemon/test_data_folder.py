"""Issue 10: one data folder, wherever the CLI runs.

The real daemon runs as a process on its default data folder (never its working directory) and records
where it runs in its runtime folder; the real CLI, run as a process from another folder with another
HOME, finds that daemon, its token and its data through the record. Read commands never create a token,
a folder or a database, and a refused token names both token files.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_proc import DaemonProc

pytestmark = pytest.mark.slow

READS = (("stove", "status"), ("stove", "log"), ("papers", "stats"), ("papers", "search", "graph"))


def coolstove(
    *args: str, cwd: Path, home: Path, runtime: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it: no config, its own HOME and runtime folder, from ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "daemon.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
             "XDG_RUNTIME_DIR": str(runtime), "OPENBLAS_NUM_THREADS": "1", **env},
    )


def files_under(path: Path) -> list[Path]:
    return sorted(path.rglob("*"))


@pytest.fixture
def user(tmp_path: Path) -> tuple[Path, Path]:
    """Another user's view: an empty HOME and an empty working folder far from the daemon's."""
    home, cwd = tmp_path / "user-home", tmp_path / "elsewhere"
    home.mkdir()
    cwd.mkdir()
    return home, cwd


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProc]:
    """The daemon on its defaults: no data folder setting, no configured token, $XDG_DATA_HOME."""
    workdir = tmp_path / "daemon"
    workdir.mkdir()
    d = DaemonProc(workdir, "", {"XDG_DATA_HOME": str(tmp_path / "xdg")})
    unset = ("COOLSTOVE_STORAGE__DATA_DIR", "COOLSTOVE_HTTP_TOKEN", "STATE_DIRECTORY", "RUNTIME_DIRECTORY")
    for var in unset:
        d.env.pop(var, None)
    d.start()
    yield d
    d.stop()


def record_of(d: DaemonProc) -> Path:
    return d.workdir / "run" / "coolstove" / "daemon.json"


def test_cli_from_another_folder_uses_the_running_daemons_data_and_token(
    tmp_path: Path, daemon: DaemonProc, user: tuple[Path, Path]
) -> None:
    data = tmp_path / "xdg" / "coolstove"
    token = (data / "http-token").read_text()
    assert (data / "coolstove.lock").is_file(), "the daemon runs on $XDG_DATA_HOME/coolstove"
    assert not (daemon.workdir / "data").exists(), "not on ./data of its working directory"

    record_path = record_of(daemon)
    record = json.loads(record_path.read_text())
    assert daemon.proc is not None
    assert record["pid"] == daemon.proc.pid
    assert record["data_dir"] == str(data)
    assert record["listen"] == f"127.0.0.1:{daemon.port}"
    assert record["pages_listen"] == "off", "the paper feed is off here, so no pages listener"
    assert record["token_from"] == str(data / "http-token")
    assert token not in record_path.read_text(), "the record never holds the token"

    home, cwd = user
    runtime = daemon.workdir / "run"
    r = coolstove("stove", "off", "--in", "10m", cwd=cwd, home=home, runtime=runtime)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("burner: cut at ")
    r = coolstove("stove", "status", "--json", cwd=cwd, home=home, runtime=runtime)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["burners"]["burner"]["deadline"] is not None, "the countdown set above"
    r = coolstove("stove", "log", "--json", cwd=cwd, home=home, runtime=runtime)
    assert r.returncode == 0, r.stderr
    assert [(e["source"], e["action"]) for e in json.loads(r.stdout)][:1] == [("cli", "cut_later")]

    r = coolstove("papers", "stats", cwd=cwd, home=home, runtime=runtime)
    assert r.returncode == 1
    assert f"no paper database at {data / 'papers.db'}" in r.stderr, "it looked in the daemon's folder"
    assert f"pid {daemon.proc.pid}" in r.stderr
    assert not (data / "papers.db").exists()
    assert files_under(home) == [], "the CLI made nothing of its own"
    assert files_under(cwd) == []

    daemon.stop()
    assert not record_path.exists(), "removed at stop"
    r = coolstove("stove", "status", cwd=cwd, home=home, runtime=runtime)
    assert r.returncode == 1
    assert f"{home}/.local/share/coolstove/http-token does not exist" in r.stderr, "back to its own default"
    assert files_under(home) == []
    assert files_under(cwd) == []


def test_a_refused_token_names_the_clis_token_file_and_the_daemons(
    tmp_path: Path, daemon: DaemonProc, user: tuple[Path, Path]
) -> None:
    home, cwd = user
    other = tmp_path / "other-data"
    other.mkdir()
    (other / "http-token").write_text("an-old-token-of-another-folder")
    daemon_file = tmp_path / "xdg" / "coolstove" / "http-token"
    env = {"COOLSTOVE_STORAGE__DATA_DIR": str(other), "COOLSTOVE_HTTP__LISTEN": f"127.0.0.1:{daemon.port}"}

    r = coolstove("stove", "status", cwd=cwd, home=home, runtime=daemon.workdir / "run", **env)
    assert r.returncode == 1
    assert f"refused the HTTP token the CLI sent (from {other / 'http-token'})" in r.stderr
    assert f"takes its token from {daemon_file}" in r.stderr
    assert daemon.proc is not None
    assert f"pid {daemon.proc.pid}, that daemon" in r.stderr
    assert "an-old-token" not in r.stderr, "no token is shown"
    assert daemon_file.read_text() not in r.stderr

    unknown = tmp_path / "no-record"
    r = coolstove("stove", "status", cwd=cwd, home=home, runtime=unknown, **env)
    assert r.returncode == 1
    assert f"(from {other / 'http-token'})" in r.stderr
    assert f"No running daemon is recorded in {unknown}/coolstove/daemon.json" in r.stderr
    assert "http-token file in the daemon's data folder" in r.stderr


@pytest.mark.parametrize("explicit", [False, True], ids=["default-folder", "explicit-empty-folder"])
def test_read_commands_on_nothing_create_nothing(
    tmp_path: Path, user: tuple[Path, Path], explicit: bool
) -> None:
    home, cwd = user
    runtime = tmp_path / "run"
    runtime.mkdir()
    folder = tmp_path / "empty-data" if explicit else home / ".local" / "share" / "coolstove"
    env = {"COOLSTOVE_STORAGE__DATA_DIR": str(folder)} if explicit else {}
    if explicit:
        folder.mkdir()
    for args in READS:
        r = coolstove(*args, cwd=cwd, home=home, runtime=runtime, **env)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr, args
        assert str(folder) in r.stderr, (args, r.stderr)
    r = coolstove("stove", "status", cwd=cwd, home=home, runtime=runtime, **env)
    assert f"no HTTP token: {folder}/http-token does not exist" in r.stderr
    if not explicit:
        assert f"no running daemon is recorded in {runtime}/coolstove/daemon.json" in r.stderr
    r = coolstove("papers", "stats", cwd=cwd, home=home, runtime=runtime, **env)
    assert f"no paper database at {folder}/papers.db" in r.stderr
    assert "`coolstove papers crawl` or `coolstove papers import FILE`" in r.stderr
    assert files_under(home) == [], "no token, folder or database was made"
    assert files_under(cwd) == []
    assert files_under(runtime) == []
    if explicit:
        assert files_under(folder) == []


def test_a_record_left_by_a_killed_daemon_is_ignored(daemon: DaemonProc, user: tuple[Path, Path]) -> None:
    home, cwd = user
    runtime = daemon.workdir / "run"
    assert coolstove("stove", "status", cwd=cwd, home=home, runtime=runtime).returncode == 0
    daemon.signal(signal.SIGKILL)
    daemon.wait_exit()
    assert record_of(daemon).exists(), "kill -9 leaves the record behind"
    r = coolstove("stove", "status", cwd=cwd, home=home, runtime=runtime)
    assert r.returncode == 1
    assert f"{home}/.local/share/coolstove/http-token does not exist" in r.stderr, "not the dead daemon's"
    assert f"no running daemon is recorded in {record_of(daemon)}" in r.stderr
    assert files_under(home) == []

    daemon.start()  # a new daemon replaces the stale record with its own
    assert daemon.proc is not None
    assert json.loads(record_of(daemon).read_text())["pid"] == daemon.proc.pid
    assert coolstove("stove", "status", cwd=cwd, home=home, runtime=runtime).returncode == 0


def test_under_systemd_state_and_runtime_directory(tmp_path: Path, user: tuple[Path, Path]) -> None:
    """``StateDirectory=coolstove`` and ``RuntimeDirectory=coolstove`` with the unit's ``UMask=0077``."""
    state, run = tmp_path / "var-lib-coolstove", tmp_path / "run-coolstove"
    state.mkdir()
    run.mkdir()
    workdir = tmp_path / "unit"
    workdir.mkdir()
    d = DaemonProc(workdir, "", {"STATE_DIRECTORY": str(state), "RUNTIME_DIRECTORY": str(run),
                                 "XDG_DATA_HOME": str(tmp_path / "not-this")})
    d.env.pop("COOLSTOVE_STORAGE__DATA_DIR")
    try:
        d.start(umask=0o077)
        assert (state / "coolstove.lock").is_file()
        assert (state / "stove.db").is_file()
        assert not (tmp_path / "not-this").exists()
        record = run / "daemon.json"
        assert record.stat().st_mode & 0o777 == 0o644, "readable by the users who run the CLI"
        data = json.loads(record.read_text())
        assert (data["data_dir"], data["token_from"]) == (str(state), "$COOLSTOVE_HTTP_TOKEN")
        assert d.token not in record.read_text()

        home, cwd = user
        r = coolstove("stove", "status", cwd=cwd, home=home, runtime=tmp_path / "none",
                      RUNTIME_DIRECTORY=str(run))
        assert r.returncode == 1
        assert "takes its token from $COOLSTOVE_HTTP_TOKEN: set COOLSTOVE_HTTP_TOKEN to it" in r.stderr
        r = coolstove("stove", "status", "--json", cwd=cwd, home=home, runtime=tmp_path / "none",
                      RUNTIME_DIRECTORY=str(run), COOLSTOVE_HTTP_TOKEN=d.token)
        assert r.returncode == 0, r.stderr
        assert "burner" in json.loads(r.stdout)["burners"]
    finally:
        d.stop()
    assert not (run / "daemon.json").exists()
