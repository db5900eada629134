"""`loopback-login completion`: scripts the shells load, exercised in real bash."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import Cli, EmulatorStarter, login

BIN = str(Path(sys.executable).parent)  # where pip put the loopback-login script


def complete(cli: Cli, *words: str) -> list[str]:
    """What bash offers for ``words`` (the last one being completed)."""
    script = (
        "source <(loopback-login completion bash)\n"
        f"COMP_WORDS=({' '.join(shlex.quote(w) for w in ('loopback-login', *words))})\n"
        f"COMP_CWORD={len(words)}\n"
        "_loopback_login_completion loopback-login\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**cli.env, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    result = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


def test_bash_completes_commands_options_and_profiles(
    cli: Cli, threaded_emulator: EmulatorStarter
) -> None:
    """Commands, a command's options (never the hidden --client-secret), and the
    names of saved profiles."""
    assert {"login", "token", "status", "exec", "completion"} <= set(complete(cli, ""))
    options = complete(cli, "login", "--client-")
    assert "--client-id" in options
    assert "--client-secret-file" in options
    assert "--client-secret" not in options
    emu = threaded_emulator()
    login(cli, emu, "-p", "work")
    login(cli, emu, "-p", "walnut")
    assert complete(cli, "token", "-p", "w") == ["walnut", "work"]
    assert complete(cli, "status", "--profile", "wo") == ["work"]


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o nosort -F"), ("zsh", "#compdef loopback-login"),
     ("fish", "complete --no-files --command loopback-login")],
)  # fmt: skip
def test_scripts_for_each_shell(cli: Cli, shell: str, marker: str) -> None:
    """Each shell gets its own script; an unknown shell is a usage error."""
    result = cli("completion", shell)
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout
    assert "_LOOPBACK_LOGIN_COMPLETE" in result.stdout
    assert cli("completion", "powershell").returncode == 2
