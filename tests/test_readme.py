"""The README stays true: its commands exist, its options exist, its example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from loopback_login.cli.commands import cli

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_front_door_has_exactly_two_commands() -> None:
    """Before "How it works" stand exactly two commands: install + demo, and the tests."""
    head = README.split("## How it works")[0]
    blocks = re.findall(r"```sh\n(.*?)```", head, re.S)
    assert [b.strip() for b in blocks] == [
        "python3 -m pip install . && loopback-login demo",
        "python3 -m pip install '.[test]' && python3 -m pytest",
    ]


def reference_rows() -> list[tuple[str, str]]:
    section = README.split("## CLI reference")[1].split("\n## ")[0]
    return re.findall(r"^\| `(\w+)` \| (.*) \|$", section, re.M)


@pytest.mark.parametrize(("command", "text"), reference_rows())
def test_reference_options_exist(command: str, text: str) -> None:
    """Every option the CLI reference names is an option of that command."""
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    for option in re.findall(r"`(--[a-z-]+)", text):
        assert option in result.output, f"{command} has no {option}"


def test_every_command_is_in_the_reference() -> None:
    """Each command of the CLI has a row in the reference."""
    assert {name for name, _ in reference_rows()} == set(cli.commands)


def test_library_example_runs(tmp_path: Path) -> None:
    """The README's get_token lines run against a session saved by the demo's parts."""
    snippet = README.split("## Library")[1].split("```python\n")[1].split("```")[0]
    code = "\n".join(line for line in snippet.splitlines() if not line.startswith("#"))
    script = tmp_path / "example.py"
    script.write_text(
        "import asyncio, aiohttp\n"
        "from loopback_login import LoginSession, ProviderConfig, FileTokenStore\n"
        "from loopback_login.emulator import serve, EmulatorConfig, DEMO_CLIENT_ID\n"
        "from loopback_login.loopback.http_browser import HttpBrowser\n"
        "async def login():\n"
        "    runner, url = await serve(EmulatorConfig(auto_approve=True))\n"
        f"    store = FileTokenStore({str(tmp_path / 'home')!r})\n"
        "    provider = ProviderConfig(server=url, client_id=DEMO_CLIENT_ID)\n"
        "    async with LoginSession(provider, store=store, opener=HttpBrowser()) as s:\n"
        "        await s.login()\n"
        "    return runner\n"
        "runner = asyncio.run(login())\n" + code + "\nprint(token)\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        env={"LOOPBACK_LOGIN_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) > 20
