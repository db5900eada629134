"""The README's examples for programs that make many calls run as printed, against
the emulator in place of platform.ringcentral.com."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import Cli, ThreadedEmulator, end_access_token_at_server, login, refreshes

README = (Path(__file__).parent.parent / "README.md").read_text()
SECTION = README.split("## Tokens inside programs that run for a while")[1].split(
    "\n## "
)[0]
PYTHON = re.findall(r"```python\n(.*?)```", SECTION, re.S)
SHELL = re.findall(r"```sh\n(.*?)```", SECTION, re.S)
PRODUCTION = "https://platform.ringcentral.com"


def test_the_section_has_an_example_per_client() -> None:
    assert len(PYTHON) == 4
    assert len(SHELL) == 1
    for name in ("requests_session", "HttpxAuth", "aiohttp_session", "platform()"):
        assert any(name in block for block in PYTHON), name


@pytest.mark.parametrize("number", range(len(PYTHON)))
def test_python_examples_run(
    number: int, cli: Cli, emu: ThreadedEmulator, tmp_path: Path
) -> None:
    login(cli, emu)
    script = tmp_path / "example.py"
    script.write_text(PYTHON[number].replace(PRODUCTION, emu.url))
    result = subprocess.run(
        [sys.executable, str(script)],
        env={**cli.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Dana Demo" in result.stdout


def test_shell_example_recovers_from_a_401(
    cli: Cli, threaded_emulator: Callable[..., ThreadedEmulator], tmp_path: Path
) -> None:
    emu = threaded_emulator()  # its own: the count of refreshes must start at 0
    login(cli, emu)
    end_access_token_at_server(emu)
    bin_dir = os.path.dirname(sys.executable)
    result = subprocess.run(
        ["bash", "-e", "-c", SHELL[0].replace(PRODUCTION, emu.url)],
        env={**cli.env, "PATH": f"{bin_dir}:/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Dana Demo" in (tmp_path / "me.json").read_text()
    assert refreshes(emu) == 1
