"""Issue 11's figures: the idle daemon's memory, and how fast ``coolstove stove off`` reaches the relay.

Prints; asserts nothing. Each figure stands beside a baseline from the same run:

1. Idle RSS of ``coolstove run`` (``VmRSS`` and ``VmHWM`` from ``/proc/<pid>/status``, --idle seconds after
   READY), papers off and papers on: two simulated burners, and two miio burners (the fake peer from
   tests/fakes, real miio UDP) with MQTT on a real Mosquitto. With ``--previous REV`` the same daemons of
   that revision (``git archive``, run from its own tree) print beside them.
2. What the idle daemon's memory and start-up go to: in a second run of the papers-off daemon every
   module's execution is measured, RSS growth and CPU time, each without the modules it imports, and
   summed per top-level package (the sum is less than the RSS: the interpreter itself, threads and
   heap growth after start are in no module; a package's figure includes what other threads allocated
   while it was imported).
3. ``coolstove stove off`` from spawn to relay energised (seen at the miio peer: both clocks are
   CLOCK_MONOTONIC of this host), p50/p95 over --runs runs, beside ``curl`` sending the same request
   (and, with --previous, that revision's CLI). The CLI runs as a user does: no config file, the daemon
   found through its record, the token read from the daemon's data folder. The runs are interleaved, so
   load on the machine falls on all of them alike; the CPU time each process used (user + system) is
   printed too, as other work on the machine changes it far less than the wall time. Then the CLI's
   slowest imports (-X importtime).
4. The load average, before and after.

    .venv/bin/python bench/bench_footprint.py [--runs 30] [--idle 10] [--previous REV]
"""

from __future__ import annotations

import argparse
import importlib.abc
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PAGE = os.sysconf("SC_PAGE_SIZE")

SIMULATED = """
[[stove.burners]]
name = "left"
driver = "simulated"

[[stove.burners]]
name = "right"
driver = "simulated"
"""

MIIO = """
[[stove.burners]]
name = "left"
driver = "miio"
host = "{peer}"
siid = 2
piid = 1
pulse_s = 0.2
timeout_s = 1.0

[[stove.burners]]
name = "right"
driver = "miio"
host = "{peer}"
siid = 3
piid = 1
pulse_s = 0.2
timeout_s = 1.0
"""

MQTT = """
[mqtt]
host = "{host}"
port = {port}
base_topic = "bench"
"""


# ---------------------------------------------------------------- attribution (runs inside the daemon)


def _rss() -> int:
    fd = os.open("/proc/self/statm", os.O_RDONLY)  # bytes: no codec to import while importing one
    try:
        return int(os.read(fd, 200).split()[1]) * PAGE
    finally:
        os.close(fd)


class _Measured(importlib.abc.Loader):
    """A loader that measures the module it executes, without the modules that execution imports."""

    stats: dict[str, list[float]] = {}  # noqa: RUF012 - one table for the process
    stack: list[list[float]] = []  # noqa: RUF012

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def create_module(self, spec: Any) -> Any:
        return self._inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.stack.append([0.0, 0.0])
        r0, t0 = _rss(), time.thread_time()  # CPU time: neither other threads nor load count
        try:
            self._inner.exec_module(module)
        finally:
            dr, dt = _rss() - r0, time.thread_time() - t0
            child_r, child_t = self.stack.pop()
            entry = self.stats.setdefault(module.__name__, [0.0, 0.0])
            entry[0] += dr - child_r
            entry[1] += dt - child_t
            if self.stack:
                self.stack[-1][0] += dr
                self.stack[-1][1] += dt


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Measured(spec.loader)
                return spec
        return None


def attribute_child(out: str, after: float, argv: list[str]) -> None:
    """Run ``coolstove ARGV`` in this process, measuring every import; write the table after ``after`` s."""
    sys.path.insert(0, str(ROOT))
    sys.meta_path.insert(0, _Finder())

    def dump() -> None:
        Path(out).write_text(json.dumps({"rss": _rss(), "modules": _Measured.stats}))

    threading.Timer(after, dump).start()
    from daemon.cli import main as coolstove

    coolstove(argv)


# ---------------------------------------------------------------- running the daemon


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM")}


class Daemon:
    """``coolstove run`` as a subprocess with a notify socket (READY), in a folder of its own."""

    def __init__(self, workdir: Path, config: str, *, papers: bool, tree: Path = ROOT,
                 env: dict[str, str] | None = None, argv0: list[str] | None = None) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True)
        (workdir / "config.toml").write_text(config)
        self.port = free_port()
        self.tree = tree
        self.argv0 = argv0 or [sys.executable, "-m", "daemon.cli"]
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir / "home"),
            "XDG_DATA_HOME": str(workdir / "data"), "XDG_RUNTIME_DIR": str(workdir / "run"),
            "OPENBLAS_NUM_THREADS": "1",
            "COOLSTOVE_HTTP__LISTEN": f"127.0.0.1:{self.port}", "COOLSTOVE_HTTP__PAGES_LISTEN": "127.0.0.1:0",
            "COOLSTOVE_PAPERS__ENABLED": "true" if papers else "false",
            "COOLSTOVE_PAPERS__CATEGORIES": "",  # nothing to crawl: no network, an idle feed
            "COOLSTOVE_PAPERS__POLL_INTERVAL_S": "86400",
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        sock_path = self.workdir / "notify.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(sock_path))
        sock.settimeout(0.2)
        log = (self.workdir / "daemon.log").open("ab")
        self.proc = subprocess.Popen([*self.argv0, "--config", str(self.workdir / "config.toml"), "run"],
                                     cwd=self.tree, env={**self.env, "NOTIFY_SOCKET": str(sock_path)},
                                     stdout=log, stderr=log)
        end = time.monotonic() + timeout
        try:
            while time.monotonic() < end:
                try:
                    if b"READY=1" in sock.recv(4096):
                        return
                except TimeoutError:
                    if self.proc.poll() is not None:
                        break
            raise RuntimeError(f"no READY from the daemon:\n{self.log()[-3000:]}")
        finally:
            sock.close()

    def log(self) -> str:
        return (self.workdir / "daemon.log").read_text(errors="replace")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    @property
    def token(self) -> str:
        return (self.workdir / "data" / "coolstove" / "http-token").read_text().strip()


def previous_tree(rev: str, into: Path) -> Path:
    """The project's files at ``rev`` (git archive), to run the previous code from its own folder."""
    into.mkdir()
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


# ---------------------------------------------------------------- the figures


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def idle_rss(tmp: Path, label: str, config: str, idle: float, trees: list[tuple[str, Path]],
             env: dict[str, str] | None = None) -> None:
    for papers in (False, True):
        for i, (name, tree) in enumerate(trees):
            d = Daemon(tmp / f"rss-{label[:8]}-{papers}-{i}", config, papers=papers, tree=tree, env=env)
            d.start()
            try:
                time.sleep(idle)
                st = status(d.pid)
            finally:
                d.stop()
            what = f"{label}, papers {'on ' if papers else 'off'} ({name})"
            print(f"idle RSS after {idle:g} s, {what:58} VmRSS {st['VmRSS'] / 1024:6.1f} MiB  "
                  f"VmHWM {st['VmHWM'] / 1024:6.1f} MiB   (target <= 80 MiB with papers off)", flush=True)


def attribution(tmp: Path, config: str, idle: float, top: int) -> None:
    out = tmp / "attribution.json"
    argv0 = [sys.executable, str(Path(__file__).resolve()), "--attribute", str(out), "--after", str(idle),
             "--"]
    d = Daemon(tmp / "attribution", config, papers=False, argv0=argv0)
    d.start()
    try:
        time.sleep(idle + 1.0)
    finally:
        d.stop()
    data = json.loads(out.read_text())
    packages: dict[str, list[float]] = {}
    for module, (rss, secs) in data["modules"].items():
        entry = packages.setdefault(module.split(".")[0], [0.0, 0.0, 0])
        entry[0] += rss
        entry[1] += secs
        entry[2] += 1
    total = sum(e[0] for e in packages.values())
    print(f"where the idle daemon's memory goes (two simulated burners, papers off; RSS "
          f"{data['rss'] / 2**20:.1f} MiB measured in-process, {total / 2**20:.1f} MiB of it grew while "
          f"importing {len(data['modules'])} modules); top packages by RSS, with their import CPU time:")
    for name, (rss, secs, n) in sorted(packages.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"    {name:24} {rss / 2**20:6.1f} MiB  {secs * 1000:6.0f} ms  ({n} modules)")
    print("    top packages by import CPU time:")
    for name, (rss, secs, n) in sorted(packages.items(), key=lambda kv: -kv[1][1])[:top]:
        print(f"    {name:24} {secs * 1000:6.0f} ms  {rss / 2**20:6.1f} MiB  ({n} modules)")


def cli_latency(tmp: Path, runs: int, previous: Path | None) -> None:
    sys.path[:0] = [str(ROOT / "tests")]
    import warnings

    warnings.simplefilter("ignore")
    from fakes.miio_peer import DEFAULT_TOKEN, MiioPeer

    with MiioPeer().in_thread() as peer:
        d = Daemon(tmp / "cli", MIIO.format(peer=peer.address), papers=False,
                   env={f"COOLSTOVE_BURNER_{b}_TOKEN": DEFAULT_TOKEN for b in ("LEFT", "RIGHT")})
        d.start()
        user = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp / "cli-user"),
                "XDG_RUNTIME_DIR": d.env["XDG_RUNTIME_DIR"]}  # finds the daemon through its record
        url = f"http://127.0.0.1:{d.port}/api/stove/cut"

        def curl() -> list[str]:
            return ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                    "-H", f"Authorization: Bearer {d.token}", "-H", "X-Coolstove-Source: cli",
                    "-H", f"X-Coolstove-Deadline: {time.time() + 10:.3f}",
                    "-H", "Content-Type: application/json", "--data", '{"burner":"left"}', url]

        variants: list[tuple[str, Any, Path]] = [
            ("curl, the same HTTP request (baseline)", curl, ROOT),
            ("coolstove stove off (console script)",
             lambda: [str(VENV_BIN / "coolstove"), "stove", "off", "--burner", "left"], ROOT),
            ("python -m daemon.cli stove off (this tree)",
             lambda: [sys.executable, "-m", "daemon.cli", "stove", "off", "--burner", "left"], ROOT),
        ]
        if previous is not None:
            variants.append(("python -m daemon.cli stove off (--previous)",
                             lambda: [sys.executable, "-m", "daemon.cli", "stove", "off", "--burner", "left"],
                             previous))
        spawn: dict[str, list[float]] = {v[0]: [] for v in variants}
        done: dict[str, list[float]] = {v[0]: [] for v in variants}
        cpu: dict[str, list[float]] = {v[0]: [] for v in variants}
        try:
            for i in range(runs + 1):  # the first round warms the page cache and is not counted
                for name, argv, cwd in variants:
                    end = time.monotonic() + 30
                    while peer.props[(2, 1)] and time.monotonic() < end:
                        time.sleep(0.005)
                    time.sleep(0.3)  # the previous cut's read-back, state and audit row are done
                    args = argv()
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    t0 = time.monotonic()
                    proc = subprocess.Popen(args, cwd=cwd, env=user, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE)
                    at = None
                    while at is None and time.monotonic() < t0 + 30:
                        at = next((c.mono for c in reversed(peer.history)
                                   if c.channel == "2.1" and c.value is True and c.mono >= t0), None)
                        time.sleep(0.0005)
                    out, err = proc.communicate(timeout=30)
                    t_exit = time.monotonic()
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    if proc.returncode != 0 or at is None:
                        raise RuntimeError(f"{name}: rc {proc.returncode}, {out!r} {err!r}")
                    if i:
                        spawn[name].append((at - t0) * 1000)
                        done[name].append((t_exit - t0) * 1000)
                        cpu[name].append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
                                         * 1000)
        finally:
            d.stop()
    for name, _, _ in variants:
        ms, ex = spawn[name], done[name]
        print(f"{name:44} spawn -> relay energised n={len(ms)}  p50 {statistics.median(ms):6.1f} ms  "
              f"p95 {pct(ms, 95):6.1f} ms  max {max(ms):6.1f} ms | exit p50 {statistics.median(ex):6.1f} ms, "
              f"CPU p50 {statistics.median(cpu[name]):5.1f} ms"
              + ("   (target <= 100 ms)" if "coolstove" in name and "previous" not in name else ""))


def cli_imports(top: int) -> None:
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", "import daemon.cli, devices.cli"],
                       cwd=ROOT, capture_output=True, text=True, check=True)
    rows = []
    for line in r.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit():
                rows.append((int(cumulative), name.rstrip()))
    print("the stove CLI's slowest imports (-X importtime, cumulative; indented: imported by the one above):")
    for us, name in sorted(rows, reverse=True)[:top]:
        print(f"    {us / 1000:6.1f} ms  {name.removeprefix(' ')}")


def memory(tmp: Path, args: argparse.Namespace, trees: list[tuple[str, Path]]) -> None:
    idle_rss(tmp, "two simulated burners", SIMULATED, args.idle, trees)
    if not args.skip_mqtt:
        sys.path[:0] = [str(ROOT / "tests")]
        import warnings

        warnings.simplefilter("ignore")
        from fakes.miio_peer import DEFAULT_TOKEN, MiioPeer
        from services import run_mosquitto

        with run_mosquitto() as broker, MiioPeer().in_thread() as peer:
            config = MIIO.format(peer=peer.address) + MQTT.format(host=broker.host, port=broker.port)
            tokens = {f"COOLSTOVE_BURNER_{b}_TOKEN": DEFAULT_TOKEN for b in ("LEFT", "RIGHT")}
            idle_rss(tmp, "two miio burners + MQTT", config, args.idle, trees, tokens)
    attribution(tmp, SIMULATED, args.idle, args.top)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--idle", type=float, default=10.0)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--previous", metavar="REV", help="also measure this git revision (the commit before)")
    ap.add_argument("--skip-mqtt", action="store_true", help="no miio + MQTT daemon (needs mosquitto)")
    ap.add_argument("--only", choices=("rss", "cli"), help="only the memory figures, or only the CLI's")
    args = ap.parse_args()
    print(load(), flush=True)
    with tempfile.TemporaryDirectory(prefix="coolstove-footprint-") as t:
        tmp = Path(t)
        trees = [("this tree", ROOT)]
        prev = None
        if args.previous:
            prev = previous_tree(args.previous, tmp / "previous")
            trees.append((f"previous {args.previous}", prev))
        if args.only != "cli":
            memory(tmp, args, trees)
            print(load(), flush=True)
        if args.only != "rss":
            cli_latency(tmp, args.runs, prev)
            cli_imports(args.top)
    print(load())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--attribute":
        attribute_child(sys.argv[2], float(sys.argv[4]), sys.argv[6:])
    else:
        main()
