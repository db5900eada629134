"""What ships: the templates and py.typed inside the wheel, the installed copy finding
its own templates, the version, the export list and both ways to start the CLI.

pytest runs from the repo root, so ``import loopback_login`` here may be the source
tree; the checks of the installed copy run in ``python -I`` subprocesses, which leave
the current directory off ``sys.path``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import NoReturn

import pytest

import loopback_login

ROOT = Path(__file__).resolve().parent.parent
DIST = "loopback-login"


def not_installed(reason: str) -> NoReturn:
    """Skip on a developer's source checkout; under CI the install is the point."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs the package with pip install '.[test]')")
    pytest.skip(f"{reason}; run `pip install '.[test]'` (not -e) to check it")


def run(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q"]
    # With hatchling at hand the build takes a second and needs no network.
    if importlib.util.find_spec("hatchling") is not None:
        command.append("--no-build-isolation")
    built = run(*command, "-w", str(out), cwd=out, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = out.glob("loopback_login-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_ships_every_template_and_py_typed(wheel: zipfile.ZipFile) -> None:
    """Every file under templates/, the emulator's included, and py.typed are in
    the wheel under loopback_login/."""
    templates = ROOT / "templates"
    expected = {
        "loopback_login/templates/" + path.relative_to(templates).as_posix()
        for path in templates.rglob("*")
        if path.is_file()
    }
    assert {
        "loopback_login/templates/callback_success.html",
        "loopback_login/templates/style.css",
        "loopback_login/templates/emulator/signin.html",
        "loopback_login/templates/emulator/consent.html",
    } <= expected
    names = set(wheel.namelist())
    assert expected - names == set()
    assert "loopback_login/py.typed" in names


def test_installed_copy_renders_its_own_templates(tmp_path: Path) -> None:
    """The installed package (not the checkout) finds its templates inside
    site-packages and escapes what it substitutes."""
    probe = """
import json, sysconfig
import loopback_login, loopback_login.templates as t
print(json.dumps({
    "package": loopback_login.__file__,
    "templates": str(t.template_dir()),
    "site": [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]],
    "page": t.render("callback_success.html", account="<b>x</b>"),
}))
"""
    found = run(sys.executable, "-I", "-c", probe, cwd=tmp_path)
    if "ModuleNotFoundError" in found.stderr:
        not_installed(f"{DIST} is not installed in {sys.prefix}")
    assert found.returncode == 0, found.stderr
    seen = json.loads(found.stdout)
    package = Path(seen["package"]).resolve().parent
    site = [Path(p).resolve() for p in seen["site"]]
    if not any(package.is_relative_to(s) for s in site):
        not_installed(f"{DIST} is installed editable (it imports from {package})")
    # The checkout's own templates/ would do too: that is the fallback to rule out.
    assert Path(seen["templates"]).resolve() == package / "templates"
    assert (package / "templates" / "emulator" / "signin.html").is_file()
    assert "&lt;b&gt;x&lt;/b&gt;" in seen["page"]
    assert "<b>x</b>" not in seen["page"]


def test_version_is_the_distribution_version() -> None:
    """loopback_login.__version__ is the installed distribution's version."""
    try:
        expected = importlib.metadata.version(DIST)
    except importlib.metadata.PackageNotFoundError:
        not_installed(f"{DIST} is not installed in {sys.prefix}")
    assert loopback_login.__version__ == expected


def test_all_is_sorted_and_resolves() -> None:
    """__all__ is sorted, has no duplicates, and every name in it can be imported."""
    names = loopback_login.__all__
    assert names == sorted(set(names))
    missing = [name for name in names if getattr(loopback_login, name, None) is None]
    assert missing == []


def test_python_dash_m_help() -> None:
    """`python -m loopback_login --help` prints the usage and exits 0."""
    result = run(sys.executable, "-m", "loopback_login", "--help", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


def test_console_script_help(tmp_path: Path) -> None:
    """The installed `loopback-login --help` console script exits 0."""
    script = shutil.which("loopback-login", path=str(Path(sys.executable).parent))
    if script is None:
        not_installed(f"no loopback-login script next to {sys.executable}")
    result = run(script, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
