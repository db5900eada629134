"""What every section shares: timed child processes, the emulator in its own process,
a logged-in cache, statistics and the markdown table."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import faulthandler
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PY = sys.executable
# The console script pip generated, which is how people run the tool.
SCRIPT = str(Path(PY).parent / "loopback-login")
SCOPE = "openid profile email ReadAccounts"
TIMES = "\u00d7"  # the multiplication sign, spelled out for linters
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
)


def log(message: str) -> None:
    """Progress goes to stderr, so stdout carries only the table."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: none of this session's PYTHON* switches
    (PYTHONDONTWRITEBYTECODE would make every start recompile), no profile leaks."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "LOOPBACK_LOGIN_")) and k != "BROWSER"
    }
    env.update(extra)
    return env


# -- timed child processes ---------------------------------------------------------


@dataclass
class Run:
    """One finished child: wall time (s), exit code, output."""

    wall: float
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False


class _Watchdog:
    """Kills a child's process group when its time is up; no polling meanwhile."""

    def __init__(self, pids: Sequence[int], timeout: float) -> None:
        self.fired = False
        self._pids = list(pids)
        self._timer = threading.Timer(timeout, self._kill)
        self._timer.daemon = True
        self._timer.start()

    def _kill(self) -> None:
        self.fired = True
        for pid in self._pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)

    def cancel(self) -> None:
        self._timer.cancel()


def _reap(proc: subprocess.Popen[bytes]) -> int:
    """Wait for ``proc`` with a blocking waitpid: it returns the moment the child
    exits, where Popen.wait(timeout) sleeps in growing steps (up to 50 ms) that
    would blur a 20 ms process."""
    _, status = os.waitpid(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode


def _read(handle: IO[bytes]) -> str:
    handle.seek(0)
    return handle.read().decode(errors="replace")


def run_timed(
    argv: Sequence[str],
    env: dict[str, str],
    *,
    timeout: float = 30.0,
    cwd: str | None = None,
) -> Run:
    """Run ``argv`` to completion; output goes to files so no pipe can stall it."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # so the watchdog takes its children too
        )
        dog = _Watchdog([proc.pid], timeout)
        try:
            code = _reap(proc)
            wall = time.perf_counter() - start
        finally:
            dog.cancel()
        return Run(wall, code, _read(out), _read(err), dog.fired)


@dataclass
class Batch:
    """Many children started together and waited for together."""

    runs: list[Run]
    wall: float


class Barrier:
    """Children that wait, after their start-up, until all are let go at once.

    Each child gets the read end of one shared pipe as stdin and the write end of
    another as fd ``ready``: it writes one byte there when ready, then reads one
    byte from stdin. Blocking reads on both sides: nobody polls.
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self.go_r, self._go_w = os.pipe()
        self._ready_r, self.ready_w = os.pipe()
        self._open = [self.go_r, self._go_w, self._ready_r, self.ready_w]

    def _close(self, fd: int) -> None:
        if fd in self._open:  # never twice: the number may belong to a new file
            self._open.remove(fd)
            os.close(fd)

    def after_spawn(self) -> None:
        # Only the children keep these ends, so a dead child shows up as EOF.
        self._close(self.go_r)
        self._close(self.ready_w)

    def wait_ready(self) -> int:
        """How many children reported ready (all, unless some died first)."""
        seen = 0
        while seen < self.count:
            chunk = os.read(self._ready_r, self.count - seen)
            if not chunk:
                break
            seen += len(chunk)
        return seen

    def release(self) -> None:
        os.write(self._go_w, b"g" * self.count)

    def close(self) -> None:
        for fd in list(self._open):
            self._close(fd)


def run_many(
    argvs: Sequence[Sequence[str]],
    env: dict[str, str],
    *,
    timeout: float,
    barrier: Barrier | None = None,
) -> Batch:
    """Spawn every child in a tight loop (or behind ``barrier``), reap them all.

    The wall time runs from the first spawn, or from the barrier's release, to the
    last exit.
    """
    procs: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as stack:
        files = [
            (
                stack.enter_context(tempfile.TemporaryFile()),
                stack.enter_context(tempfile.TemporaryFile()),
            )
            for _ in argvs
        ]
        try:
            return _run_many(argvs, env, timeout, barrier, files, procs)
        finally:
            for proc in procs:
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    with contextlib.suppress(ChildProcessError):
                        _reap(proc)
            if barrier is not None:
                barrier.close()


def _run_many(
    argvs: Sequence[Sequence[str]],
    env: dict[str, str],
    timeout: float,
    barrier: Barrier | None,
    files: Sequence[tuple[IO[bytes], IO[bytes]]],
    procs: list[subprocess.Popen[bytes]],
) -> Batch:
    start = time.perf_counter()
    for argv, (out, err) in zip(argvs, files, strict=True):
        procs.append(
            subprocess.Popen(
                argv,
                env=env,
                stdin=barrier.go_r if barrier else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                pass_fds=(barrier.ready_w,) if barrier else (),
                start_new_session=True,
            )
        )
    dog = _Watchdog([p.pid for p in procs], timeout)
    try:
        if barrier is not None:
            barrier.after_spawn()
            barrier.wait_ready()
            start = time.perf_counter()
            barrier.release()
        reaped = [_reap(p) for p in procs]
        wall = time.perf_counter() - start
    finally:
        dog.cancel()
    runs = [
        Run(wall, code, _read(out), _read(err), dog.fired)
        for code, (out, err) in zip(reaped, files, strict=True)
    ]
    return Batch(runs, wall)


TIME = "/usr/bin/time"


def peak_rss(
    argv: Sequence[str], env: dict[str, str], *, timeout: float = 30.0
) -> tuple[Run, int]:
    """Run ``argv`` under GNU time; returns the run and its peak RSS in KiB.

    Not getrusage of our own child: Python spawns with vfork, and Linux charges the
    parent's pages, still mapped at exec, to the child's ru_maxrss. GNU time forks
    from its own small image, so the figure is the command's.
    """
    with tempfile.NamedTemporaryFile(suffix=".rss") as report:
        run = run_timed(
            [TIME, "-f", "%M", "-o", report.name, *argv], env, timeout=timeout
        )
        text = Path(report.name).read_text().strip().splitlines()
    return run, int(text[-1]) if text and text[-1].isdigit() else 0


# -- the emulator in its own process -----------------------------------------------


@dataclass
class Span:
    """One request the emulator handled, on this machine's monotonic clock."""

    method: str
    path: str
    status: int
    start: float
    end: float
    grant_type: str | None

    @property
    def seconds(self) -> float:
        return self.end - self.start


class Emulator:
    """``bench/emulator_proc.py``: the package's emulator app, timed from outside."""

    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url

    @classmethod
    @contextlib.contextmanager
    def running(cls, *, timeout: float = 20.0) -> Iterator[Emulator]:
        proc = subprocess.Popen(
            [PY, str(BENCH / "emulator_proc.py")],
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        dog = threading.Timer(timeout, proc.kill)
        dog.start()
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
        finally:
            dog.cancel()
        if not line.startswith("http://127.0.0.1:"):
            proc.kill()
            proc.wait(5)
            raise RuntimeError(f"the emulator did not start (said {line!r})")
        try:
            yield cls(proc, line)
        finally:
            # Closing its stdin is its signal to stop.
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def _get(self, path: str, **query: str) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())

    def take_spans(self) -> list[Span]:
        """The requests handled since the last call (the list is emptied)."""
        return [Span(**item) for item in self._get("/_bench/spans")]

    def count(self, endpoint: str, **filters: str) -> int:
        """``app[STATE].count(endpoint, **filters)`` inside the emulator."""
        return int(self._get("/_bench/count", endpoint=endpoint, **filters)["count"])


# -- a logged-in cache ---------------------------------------------------------------


def login_into(home: Path, server: str, *, client_id: str | None = None) -> str:
    """A real login against ``server`` into ``home``; returns the access token.

    The browser is the package's HttpBrowser (follows redirects, no pages to fill,
    as the bench emulator approves on its own).
    """
    from loopback_login import LoginSession, ProviderConfig
    from loopback_login.emulator import DEMO_CLIENT_ID
    from loopback_login.loopback.config import LoopbackConfig
    from loopback_login.loopback.http_browser import HttpBrowser
    from loopback_login.store.file_store import FileTokenStore

    async def login() -> str:
        provider = ProviderConfig(
            server=server, client_id=client_id or DEMO_CLIENT_ID, scope=SCOPE
        )
        async with LoginSession(
            provider,
            store=FileTokenStore(home),
            opener=HttpBrowser(),
            loopback=LoopbackConfig(timeout=20),
        ) as session:
            async with asyncio.timeout(30):
                return (await session.login()).access_token

    return asyncio.run(login())


def expire(home: Path, profile: str = "default") -> None:
    """Make the cached access token look expired; the refresh token stays good."""
    path = home / f"{profile}.json"
    entry = json.loads(path.read_text())
    entry["tokens"]["expires_at"] = time.time() - 1
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(entry))
    temp.chmod(0o600)
    temp.replace(path)


def cached_token(home: Path, profile: str = "default") -> str:
    return str(
        json.loads((home / f"{profile}.json").read_text())["tokens"]["access_token"]
    )


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))
    path.chmod(0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- statistics and the table ---------------------------------------------------------


@dataclass
class Row:
    """One line of the table: repeated values, or a text when there are none."""

    section: str
    what: str
    values: list[float] = field(default_factory=list)
    unit: str = "ms"  # ms, x (a ratio), MiB, s, n (a count)
    goal: str = ""
    text: str = ""  # instead of numbers (a failure, a skipped peer)

    def cells(self) -> list[str]:
        if not self.values:
            return [self.section, self.what, self.text or "—", "", "", "", self.goal]
        med = statistics.median(self.values)
        return [
            self.section,
            self.what,
            _fmt(med, self.unit),
            _fmt(min(self.values), self.unit),
            _fmt(max(self.values), self.unit),
            str(len(self.values)),
            self.goal,
        ]


def _fmt(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value * 1000:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "x":
        return f"{value:.2f}{TIMES}"
    if unit == "MiB":
        return f"{value / 1024:.1f} MiB"
    return f"{value:g}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**MISS**"


@dataclass
class Section:
    name: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, what: str, values: Sequence[float] = (), **kw: Any) -> Row:
        row = Row(self.name, what, list(values), **kw)
        self.rows.append(row)
        return row


HEADER = ["Section", "Measurement", "Median", "Min", "Max", "Runs", "Goal"]


def render(sections: Sequence[Section], machine: str) -> str:
    lines = [machine, "", "| " + " | ".join(HEADER) + " |"]
    lines.append("|" + "|".join(["---"] * len(HEADER)) + "|")
    for section in sections:
        for row in section.rows:
            cells = [c.replace("|", "\\|") for c in row.cells()]
            lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- **{s.name}**: {n}" for s in sections for n in s.notes]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Machine: {model}, {os.cpu_count()} cores, Linux {platform.release()}; "
        f"Python {platform.python_version()}; {now}; 1-min load average now "
        f"{os.getloadavg()[0]:.1f}. Versions: {_versions()}."
    )


def _versions() -> str:
    from importlib import metadata

    found = []
    for name in (
        "loopback-login",
        "google-auth",
        "google-auth-oauthlib",
        "msal",
        "playwright",
    ):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} not installed")
    return ", ".join(found)


def write_results(text: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "latest.md"
    path.write_text(text)
    return path


def bound(seconds: float) -> None:
    """Past ``seconds``, print every thread's stack and exit: whatever hangs, the
    bench ends. Its children follow: the emulator stops when its stdin closes,
    Playwright's driver (and its Chromium) when its pipe does."""
    faulthandler.dump_traceback_later(seconds, exit=True)


def standalone(run: Callable[[bool], Section]) -> None:
    """``python bench/<section>.py [--quick]``: one section, printed and saved."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="few rounds, for a check")
    args = parser.parse_args()
    bound(120 if args.quick else 360)
    section = run(args.quick)
    text = render([section], machine())
    print(text, end="")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{section.name}.md").write_text(text)
