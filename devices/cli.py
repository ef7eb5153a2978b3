"""``coolstove stove …``: talks to the running daemon over its local HTTP API.

The CLI never touches a relay itself: the daemon owns the relays, timers and
audit log, so a command from here is audited like any other. When nothing
answers, it says the daemon is not running instead of printing a traceback.

It finds the daemon and its token through the daemon's record (see
``core.clicontext``) and never creates a token: with none to send it says where it
looked, and a refused token (401) names the CLI's token and the daemon's.

It is meant to start fast (``coolstove stove off`` is an emergency command): it imports click,
``core.endpoint``, which finds the daemon's address and token without the configuration's schema
(pydantic) whenever that gives the same answer, and ``devices.http_exchange``, one HTTP request over a
socket.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.parse
from typing import Any

import click

from core.clicontext import CliContext, looked_in, pass_cli
from core.endpoint import Endpoint, runtime_files
from core.errors import DaemonNotRunning, InputError
from devices.http_exchange import Dropped, NoAnswer, Unreachable, exchange

__all__ = ["stove"]


def _request(cli: CliContext, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One request to the daemon, with a deadline: what the daemon gets after it, it refuses (408).

    The CLI waits exactly as long as the deadline it sends, so a command it
    gave up on is never carried out later behind its back.
    """
    ep = cli.endpoint
    token = _token(cli, ep)
    wait_s = ep.client_timeout_s
    deadline = time.time() + wait_s
    headers = {"Authorization": f"Bearer {token}", "X-Coolstove-Source": "cli",
               "X-Coolstove-Deadline": f"{deadline:.3f}"}
    payload = None
    if body is not None:
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        headers["Content-Type"] = "application/json"
    try:
        status, raw = exchange(ep.base_url, method, path, headers, payload, deadline)
    except NoAnswer as exc:
        raise _no_answer(wait_s, deadline) from exc
    except Unreachable as exc:  # refused, no route, unknown host
        raise DaemonNotRunning(
            f"the coolstove daemon is not running (nothing answers on {ep.base_url}); "
            "start it with `coolstove run` or `systemctl start coolstove`"
        ) from exc
    except Dropped as exc:
        raise DaemonNotRunning(
            f"the daemon on {ep.base_url} closed the connection without an answer (overloaded?): "
            "check with `coolstove stove status` whether the command was carried out"
        ) from exc
    except ValueError as exc:  # a header that cannot be sent
        raise DaemonNotRunning(
            f"the HTTP token cannot be sent ({ep.token_from or ep.token_file}): {exc}"
        ) from exc
    if status == 401:
        raise DaemonNotRunning(_refused(cli, ep))
    try:
        data = json.loads(raw)
    except ValueError:
        data = {"detail": raw.decode("utf-8", "replace")[:200]}
    if status >= 400:
        detail = data.get("detail") if isinstance(data, dict) else data
        if isinstance(detail, list):  # pydantic's validation errors
            detail = "; ".join(
                f"{'.'.join(map(str, e.get('loc', [])))}: {e.get('msg')}" if e.get("loc") != ["body"]
                else str(e.get("msg"))  # the command as a whole (an unknown burner, a bad duration)
                for e in detail
            )
        raise InputError(str(detail))
    return data


def _no_answer(wait_s: float, deadline: float) -> DaemonNotRunning:
    until = dt.datetime.fromtimestamp(deadline).strftime("%H:%M:%S")
    return DaemonNotRunning(
        f"the daemon did not answer within {wait_s:g} s (it is running but busy, or stuck). "
        f"It refuses this command once {until} has passed, so it was done before then or not at all: "
        "check with `coolstove stove status` and `coolstove stove log`"
    )


def _token(cli: CliContext, ep: Endpoint) -> str:
    """The token to send: configured, or the data folder's file. Never made here (that is the daemon's)."""
    try:
        token = ep.read_token()
    except OSError as exc:
        raise DaemonNotRunning(
            f"cannot read the daemon's HTTP token {ep.token_file}: {exc.strerror or exc} "
            "(the system daemon's is readable by root only: use sudo, or set COOLSTOVE_HTTP_TOKEN)"
        ) from exc
    if token is None:
        missing = (f"no HTTP token: {ep.token_file} does not exist and COOLSTOVE_HTTP_TOKEN is not set "
                   f"(looked in {looked_in(ep)}). ")
        daemon = cli.find_running()
        if daemon is not None and daemon.data_dir == ep.data_dir:
            raise DaemonNotRunning(
                missing + f"The running daemon recorded in {daemon.path} (pid {daemon.pid}) takes its token "
                f"from {daemon.token_from}: set COOLSTOVE_HTTP_TOKEN to it"
            )
        raise DaemonNotRunning(
            missing + "No daemon has run on this data folder: start one with `coolstove run` (or "
            "`systemctl start coolstove`), or point the CLI at the daemon's data folder with [storage] "
            "data_dir or COOLSTOVE_STORAGE__DATA_DIR"
        )
    return token


def _refused(cli: CliContext, ep: Endpoint) -> str:
    """A 401: which token the CLI sent, and where the daemon's is (from its record, never the token)."""
    mine = ep.token_from or str(ep.token_file)
    text = f"the daemon on {ep.base_url} refused the HTTP token the CLI sent (from {mine}). "
    daemon = cli.find_running()
    if daemon is not None:
        there = "that daemon" if daemon.base_url == ep.base_url else f"the daemon on {daemon.base_url}"
        return text + (
            f"The running daemon recorded in {daemon.path} (pid {daemon.pid}, {there}) takes its token "
            f"from {daemon.token_from}: set COOLSTOVE_HTTP_TOKEN to it, or run the CLI on the daemon's data "
            f"folder {daemon.data_dir} (COOLSTOVE_STORAGE__DATA_DIR, or no data folder setting at all)"
        )
    looked = " or ".join(str(p) for p in runtime_files())
    return text + (
        f"No running daemon is recorded in {looked}, so where its token is cannot be told: it is the "
        "http-token file in the daemon's data folder, or its COOLSTOVE_HTTP_TOKEN or http-token "
        "credential. Set COOLSTOVE_HTTP_TOKEN to it, or point the CLI at the daemon's data folder with "
        "COOLSTOVE_STORAGE__DATA_DIR"
    )


def _when(iso: str | None) -> str:
    if not iso:
        return "-"
    return dt.datetime.fromisoformat(iso).astimezone().strftime("%a %H:%M:%S")


@click.group()
def stove() -> None:
    """Cut the gas now or later, cancel, schedule, and read the log (through the daemon)."""


@stove.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the daemon's JSON.")
@pass_cli
def status(cli: CliContext, as_json: bool) -> None:
    """Each burner: armed or cutting, relay, countdown, last cut."""
    data = _request(cli, "GET", "/api/stove")
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for name, b in data["burners"].items():
        reach = "" if b["reachable"] is not False else "  UNREACHABLE"
        line = f"{name:12} {b['state']:8} relay {b['relay']}{reach}"
        if b["deadline"]:
            line += f"  cut at {_when(b['deadline'])} ({b['time_left_s']} s)"
        if b.get("owed"):
            o = b["owed"]
            line += (
                f"  CUT OWED since {_when(o['since'])} ({o['source']}), "
                f"retrying: {o.get('last_error') or '...'}"
            )
        if b["last_cut"]:
            last = b["last_cut"]
            line += f"  last cut {_when(last['at'])} by {last['source']} ({last['result']})"
        click.echo(line)
    for s in data.get("schedules", []):
        click.echo(f"schedule {s['id']}: {s['cron']} -> {', '.join(s['burners'])}, next {_when(s['next'])}")


@stove.command("off")
@click.option("--burner", "-b", default="all", show_default=True, help="Burner name, or all.")
@click.option("--in", "delay", metavar="DURATION", help="Cut after this long: 600, 10m, 1h30m.")
@click.option("--at", "at", metavar="TIME", help="Cut at HH:MM (next occurrence) or an ISO date-time.")
@pass_cli
def off(cli: CliContext, burner: str, delay: str | None, at: str | None) -> None:
    """Cut the gas: now, after --in, or at --at."""
    if delay and at:
        raise click.UsageError("give --in or --at, not both")
    body: dict[str, Any] = {"burner": burner}  # the daemon validates (and audits) what we send
    if delay:
        body["delay_s"] = delay
    if at:
        body["at"] = at
    result = _request(cli, "POST", "/api/stove/cut", body)
    if delay or at:
        for name, st in (result.get("status") or {}).items():
            click.echo(f"{name}: cut at {_when(st['deadline'])}")
        return
    for name, r in (result.get("burners") or {}).items():
        if r.get("ok"):
            click.echo(f"{name}: gas cut" + (f" ({r['latency_ms']:.0f} ms)" if r.get("latency_ms") else ""))
        else:
            click.echo(f"{name}: FAILED: {r.get('error')}", err=True)
    if not result.get("ok"):
        raise click.exceptions.Exit(1)


@stove.command("cancel")
@click.option("--burner", "-b", default="all", show_default=True)
@pass_cli
def cancel(cli: CliContext, burner: str) -> None:
    """Cancel pending countdowns (schedules stay; see `schedule remove`)."""
    click.echo(_request(cli, "POST", "/api/stove/cancel", {"burner": burner}).get("detail", "ok"))


@stove.command("extend")
@click.option("--burner", "-b", default="all", show_default=True)
@click.option("--by", "by", required=True, metavar="DURATION", help="Time to add: 300, 5m.")
@pass_cli
def extend(cli: CliContext, burner: str, by: str) -> None:
    """Push a pending countdown back."""
    result = _request(cli, "POST", "/api/stove/extend", {"burner": burner, "by_s": by})
    for name, st in (result.get("status") or {}).items():
        click.echo(f"{name}: cut at {_when(st['deadline'])}")


@stove.group("schedule")
def schedule() -> None:
    """Recurring cuts, e.g. every night at 23:00."""


@schedule.command("add")
@click.argument("when")
@click.option("--burner", "-b", default="all", show_default=True)
@pass_cli
def schedule_add(cli: CliContext, when: str, burner: str) -> None:
    """Add a recurring cut: WHEN is HH:MM (every day) or a 5-field cron expression."""
    entry = _request(cli, "POST", "/api/stove/schedules", {"burner": burner, "cron": when})
    click.echo(f"schedule {entry['id']}: {entry['cron']} -> {burner}, next {_when(entry['next'])}")


@schedule.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def schedule_list(cli: CliContext, as_json: bool) -> None:
    """List recurring cuts."""
    items = _request(cli, "GET", "/api/stove/schedules")
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    if not items:
        click.echo("no schedules")
    for s in items:
        click.echo(f"{s['id']}  {s['cron']:16} {', '.join(s['burners']):20} next {_when(s['next'])}")


@schedule.command("remove")
@click.argument("schedule_id")
@pass_cli
def schedule_remove(cli: CliContext, schedule_id: str) -> None:
    """Remove a recurring cut by its id (see `schedule list`)."""
    _request(cli, "DELETE", f"/api/stove/schedules/{urllib.parse.quote(schedule_id, safe='')}")
    click.echo(f"removed {schedule_id}")


@stove.command("log")
@click.option("--limit", "-n", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--burner", "-b", default=None)
@click.option("--json", "as_json", is_flag=True)
@pass_cli
def log(cli: CliContext, limit: int, burner: str | None, as_json: bool) -> None:
    """The audit log: every command, its source, result and latency."""
    params: dict[str, Any] = {"limit": limit} if burner is None else {"limit": limit, "burner": burner}
    path = f"/api/stove/log?{urllib.parse.urlencode(params)}"
    entries = _request(cli, "GET", path)
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    for e in entries:
        latency = f"{e['latency_ms']:.0f} ms" if e["latency_ms"] is not None else ""
        when = dt.datetime.fromisoformat(e["ts"]).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"{when}  {e['source']:8} {e['burner']:10} {e['action']:14} {e['result']:9} {latency:>7}  "
                   f"{e['detail'] or ''}")
