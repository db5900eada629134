"""time_to_browser: how long a person waits for the browser, and for the last page.

Each login is a new process, started as a person starts it, against the same local
provider (the package's emulator in its own process, approving on its own):

* ours: ``loopback-login login`` (the console script);
* google-auth-oauthlib: ``InstalledAppFlow.run_local_server`` in a script of its
  own (``peers/google_login.py``), with the confidential demo client (its flow
  sends HTTP Basic even without a secret, which a public client may not).

The browser is ``$BROWSER``, which both honour through ``webbrowser``: a ``sh``
that writes the URL into a FIFO this process reads. **to browser** runs from just
before the process is spawned to the moment the URL arrives (the ``sh`` start is
in both). The bench then plays the browser: it follows the redirects itself (no
Chromium, whose own start would swamp the figure) and times **callback → page**,
from sending the callback request to the last byte of the page it gets back.
Runs alternate between the two flows, so a busy machine slows both alike.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from common import (
    BENCH,
    PY,
    SCOPE,
    SCRIPT,
    TIMES,
    Emulator,
    Section,
    child_env,
    log,
    median,
    scratch,
    standalone,
    verdict,
)

LOGIN_TIMEOUT = 30.0
# Between the browser asked and the callback: the browser starting and the person
# signing in take seconds; an instant callback would time work a person never
# waits for (ours loads its HTTP server and client in that time).
SIGN_IN = 1.5
DONE = {"ours": "You are signed in", "google": "The authentication flow has completed"}


@dataclass
class Timing:
    to_browser: float  # process start → the browser asked to open
    callback: float  # callback request sent → its page read in full


def follow(url: str, loopback_port: int) -> tuple[float, str]:
    """Follow redirects as a browser would, and time the callback's request."""
    for _ in range(10):
        parts = urllib.parse.urlsplit(url)
        target = parts.path + ("?" + parts.query if parts.query else "")
        is_callback = parts.port == loopback_port and "code=" in parts.query
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
        try:
            sent = time.perf_counter()
            connection.request("GET", target, headers={"Host": parts.netloc})
            response = connection.getresponse()
            body = response.read().decode(errors="replace")
            done = time.perf_counter()
        finally:
            connection.close()
        location = response.getheader("Location")
        if response.status in (301, 302, 303, 307) and location:
            url = urllib.parse.urljoin(url, location)
            continue
        if not is_callback:
            raise RuntimeError(
                f"ended on {url[:120]}: HTTP {response.status} {body[:200]!r}"
            )
        return done - sent, body
    raise RuntimeError("too many redirects")


def one(name: str, argv: list[str], env: dict[str, str], fifo: Path) -> Timing:
    os.mkfifo(fifo)
    got: dict[str, object] = {}

    def read() -> None:
        with open(fifo, "rb") as pipe:
            got["url"] = pipe.read().decode().strip()
        got["at"] = time.perf_counter()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # webbrowser puts the URL in place of %s; the URL holds no backslash, which
    # alone sh's echo would read.
    env = dict(env, BROWSER=f"sh -c 'echo \"$0\" > {fifo}' %s")
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        reader.join(LOGIN_TIMEOUT)
        if "url" not in got:
            proc.kill()
            raise RuntimeError(
                f"{name}: no browser asked: {proc.communicate()[1][-400:]!r}"
            )
        url = str(got["url"])
        port = urllib.parse.urlsplit(url).port if name == "ours" else None
        if port is None:  # google hands over the authorize URL itself
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
            port = urllib.parse.urlsplit(query["redirect_uri"][0]).port
        assert port is not None
        time.sleep(SIGN_IN)
        callback, page = follow(url, port)
        _out, err = proc.communicate(timeout=LOGIN_TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait(5)
    if proc.returncode != 0 or DONE[name] not in page:
        raise RuntimeError(
            f"{name} failed ({proc.returncode}): {err[-400:]!r} {page[:200]!r}"
        )
    return Timing(float(got["at"]) - start, callback)  # type: ignore[arg-type]


def run(quick: bool) -> Section:
    from loopback_login.emulator import (
        DEMO_CLIENT_ID,
        DEMO_CONFIDENTIAL_CLIENT_ID,
        DEMO_CONFIDENTIAL_SECRET,
    )

    section = Section("time_to_browser")
    rounds, warmup = (5, 1) if quick else (15, 2)
    results: dict[str, list[Timing]] = {"ours": [], "google": []}
    with Emulator.running() as emu, scratch("ttb") as work:
        counter = iter(range(10**6))

        def argv(name: str) -> list[str]:
            if name == "ours":
                return [
                    SCRIPT, "login", "--server", emu.url, "--client-id", DEMO_CLIENT_ID,
                    "--scope", SCOPE, "--cache-dir", str(work / f"s{next(counter)}"),
                    "--timeout", str(int(LOGIN_TIMEOUT)),
                ]  # fmt: skip
            return [
                PY, str(BENCH / "peers" / "google_login.py"), emu.url,
                DEMO_CONFIDENTIAL_CLIENT_ID, DEMO_CONFIDENTIAL_SECRET, SCOPE,
            ]  # fmt: skip

        env = child_env(OAUTHLIB_INSECURE_TRANSPORT="1")
        env.pop("DISPLAY", None)
        names = list(results)
        log(
            f"time_to_browser: {warmup} warm-up + {rounds} rounds of {len(names)} flows"
        )
        for index in range(warmup + rounds):
            order = names if index % 2 == 0 else names[::-1]
            for name in order:
                fifo = work / f"browser{next(counter)}"
                timing = one(name, argv(name), env, fifo)
                if index >= warmup:
                    results[name].append(timing)

    ours, google = results["ours"], results["google"]
    section.row("ours (`loopback-login login`): process start → browser asked",
                [t.to_browser for t in ours])  # fmt: skip
    section.row("google-auth-oauthlib (`run_local_server`): process start → browser asked",
                [t.to_browser for t in google])  # fmt: skip
    ratio = median([t.to_browser for t in ours]) / median(
        [t.to_browser for t in google]
    )
    section.row(
        "ours ÷ google's, process start → browser (medians)",
        [ratio],
        unit="x",
        goal=f"≤ 0.5{TIMES}: {verdict(ratio <= 0.5)}",
    )
    section.row("ours: callback → success page", [t.callback for t in ours])
    section.row("google's: callback → success page", [t.callback for t in google])
    section.notes += [
        f"a new process per login, {rounds} each, alternating; scope `{SCOPE}`, GET "
        "method; ours checks the ID token and saves the session with fsync before "
        "its page says so, google's flow answers the browser before it exchanges "
        "the code (its page promises nothing).",
        "the browser is `$BROWSER` = a `sh` writing the URL into a FIFO; the bench "
        f"waits {SIGN_IN:g} s (a browser starting, a person signing in), then "
        "follows the redirects over HTTP itself, so no browser's start is in any "
        "figure.",
    ]
    return section


if __name__ == "__main__":
    standalone(run)
