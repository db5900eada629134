"""The OS keyring, through the ``keyring`` package, every call bounded in time.

A Secret Service that is missing, locked or silent must give an error that says so,
never a hang: each call runs on a daemon thread and is given up after ``timeout``
seconds. A thread stuck in a D-Bus read cannot be stopped, but it cannot hold the
command either, and once one call has timed out the next ones fail at once.

Imported only where a refresh token is read or written (a refresh, a login, a
logout): never on the cached ``token`` path. ``keyring`` is imported lazily, on
first use; what it does over D-Bus runs on the worker thread.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from loopback_login.environment import KEYRING_TIMEOUT_ENV
from loopback_login.errors import ConfigError, KeyringError, printable

__all__ = ["DEFAULT_TIMEOUT", "LIMITS", "SERVICE", "OSKeyring"]

T = TypeVar("T")

SERVICE = "loopback-login"
DEFAULT_TIMEOUT = 5.0

# Backends that would keep the secret in a plain file, or nowhere: the person asked
# for the keyring, so falling back to either would be a silent downgrade.
_REFUSED = {
    "keyring.backends.fail.Keyring": "no OS keyring was found",
    "keyring.backends.null.Keyring": "the keyring is switched off (null backend)",
    "keyrings.alt.file.PlaintextKeyring": "it writes secrets to a plain file",
}
# Windows' Credential Manager keeps at most 2,560 bytes per credential, and keyring
# stores UTF-16 there: 1,280 characters. Longer values are refused, not cut.
LIMITS = {"keyring.backends.Windows.WinVaultKeyring": 1280}

# Viable to keyring, yet no keyring: a combination of others, or a refusal.
_NOT_KEYRINGS = {
    "keyring.backends.chainer",
    "keyring.backends.fail",
    "keyring.backends.null",
}
_LOCKED = {"KeyringLocked", "LockedException", "PromptDismissedException"}
_FILE_FIX = (
    "or keep the refresh token in the entry file: "
    "loopback-login login --storage file (and --profile NAME for another profile)"
)


def _class_path(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def timeout_from(environ: Mapping[str, str]) -> float:
    """The bound of each keyring call: ``$LOOPBACK_LOGIN_KEYRING_TIMEOUT`` or 5 s."""
    text = environ.get(KEYRING_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 600:
        raise ConfigError(
            f"{KEYRING_TIMEOUT_ENV}={printable(text, 40)!r} is not a number of "
            "seconds between 0 and 600",
            hint=f"for example: {KEYRING_TIMEOUT_ENV}=5",
        )
    return value


class OSKeyring:
    """Secrets under the service ``loopback-login`` in the OS keyring.

    ``backend`` is a ``keyring`` backend to use instead of the one ``keyring``
    would pick (tests, or a program that chose its own).
    """

    def __init__(
        self,
        *,
        timeout: float | None = None,
        backend: Any = None,
        environ: Mapping[str, str] = os.environ,
        limits: Mapping[str, int] = LIMITS,
    ) -> None:
        self.timeout = timeout_from(environ) if timeout is None else timeout
        self._environ = environ
        self._backend = backend
        self._limits = limits
        self._failed: KeyringError | None = None
        self._probed = False

    @property
    def name(self) -> str:
        """The backend's name as keyring gives it (``SecretService Keyring``)."""
        if self._backend is None:
            return "unknown"
        return str(getattr(self._backend, "name", None) or _class_path(self._backend))

    # -- the calls ---------------------------------------------------------------

    def check(self) -> str:
        """Make sure a secret can be written, read back and removed now; the backend's
        name. Run before a login opens the browser."""
        if not self._probed:
            # An item of its own: parallel processes probing must not read back
            # each other's values.
            probe = f"probe-{os.urandom(8).hex()}"
            self.set(probe, os.urandom(16).hex())
            self.delete(probe)
            self._probed = True
        return self.name

    def get(self, user: str) -> str | None:
        backend = self._find()
        value = self._call(
            "reading a secret", lambda: backend.get_password(SERVICE, user)
        )
        return None if value is None else str(value)

    def set(self, user: str, value: str) -> None:
        """Write ``value`` and read it back: a keyring that cut or dropped it must
        not count as having kept it."""
        backend = self._find()
        limit = self._limits.get(_class_path(backend))
        if limit is not None and len(value) > limit:
            raise KeyringError(
                f"the refresh token is {len(value)} characters long; {self.name} "
                f"keeps at most {limit}",
                hint=_FILE_FIX,
            )
        self._call(
            "writing a secret", lambda: backend.set_password(SERVICE, user, value)
        )
        if self.get(user) != value:
            raise KeyringError(
                f"the OS keyring ({self.name}) did not keep the secret written to it",
                hint=_FILE_FIX,
            )

    def delete(self, user: str) -> bool:
        """Remove the secret; False if there was none."""
        backend = self._find()

        def delete() -> bool:
            from keyring.errors import PasswordDeleteError

            try:
                backend.delete_password(SERVICE, user)
            except PasswordDeleteError:
                return False
            return True

        return self._call("removing a secret", delete)

    # -- plumbing ----------------------------------------------------------------

    def _find(self) -> Any:
        if self._backend is None:
            try:
                _import_keyring()
            except ImportError as exc:
                raise self._error(exc, "loading keyring") from exc
            backend, why = self._call("looking for the OS keyring", _detect)
            refused = _REFUSED.get(_class_path(backend))
            if refused is not None:
                if not _class_path(backend).startswith("keyring.backends.fail"):
                    refused += f" ({backend.name})"
                self._failed = KeyringError(
                    f"no usable OS keyring: {refused}"
                    + (f"; {self._where()}: {why}" if why else ""),
                    hint=f"{self._remedy()}; {_FILE_FIX}",
                )
                raise self._failed
            self._backend = backend
        return self._backend

    def _call(self, doing: str, func: Callable[[], T]) -> T:
        if self._failed is not None:
            raise KeyringError(self._failed.message, hint=self._failed.hint)
        box: list[tuple[bool, Any]] = []
        done = threading.Event()

        def run() -> None:
            try:
                box.append((True, func()))
            except BaseException as exc:
                box.append((False, exc))
            finally:
                done.set()

        threading.Thread(target=run, name="keyring", daemon=True).start()
        if not done.wait(self.timeout):
            self._failed = KeyringError(
                f"{self._where()} did not answer within {self.timeout:g} s ({doing})",
                hint=f"{self._remedy()}, or allow it more time with "
                f"{KEYRING_TIMEOUT_ENV}=SECONDS; {_FILE_FIX}",
            )
            raise self._failed
        ok, value = box[0]
        if ok:
            return value  # type: ignore[no-any-return]
        raise self._error(value, doing) from value

    def _error(self, exc: BaseException, doing: str) -> BaseException:
        if isinstance(exc, KeyringError):
            return exc
        if isinstance(exc, ImportError):
            return KeyringError(
                "--storage keyring needs the keyring package, which is not installed",
                hint="run: pip install 'loopback-login[keyring]'; " + _FILE_FIX,
            )
        if not isinstance(exc, Exception):
            return exc  # KeyboardInterrupt and the like pass through as they are
        if type(exc).__name__ in _LOCKED:
            return KeyringError(
                f"{self._where()} is locked, and nothing could unlock it here",
                hint="unlock it (GNOME Keyring: log in to the desktop, or pipe its "
                "password to gnome-keyring-daemon --unlock), then retry; " + _FILE_FIX,
            )
        return KeyringError(
            f"{self._where()} failed while {doing}: {printable(exc, 200)}",
            hint=f"{self._remedy()}; {_FILE_FIX}",
        )

    def _where(self) -> str:
        if self._backend is not None:
            return f"the OS keyring ({self.name})"
        if sys.platform.startswith("linux"):
            bus = self._environ.get("DBUS_SESSION_BUS_ADDRESS") or "not set"
            return (
                "the OS keyring (a Secret Service on the D-Bus session bus, "
                f"DBUS_SESSION_BUS_ADDRESS {printable(bus, 120)})"
            )
        return "the OS keyring"

    def _remedy(self) -> str:
        if sys.platform.startswith("linux"):
            return (
                "start a Secret Service in this D-Bus session (GNOME Keyring: "
                "gnome-keyring-daemon --start --components=secrets; or KeePassXC) "
                "and unlock it"
            )
        return "check that the OS keyring is unlocked"


def _import_keyring() -> None:
    """Import keyring and its backends' modules here, unbounded: that is local work
    (a few hundred milliseconds, more on a busy machine), while the bound is for
    what waits on another process. Which backends are usable is not asked here."""
    from importlib.metadata import entry_points

    import keyring.backend
    import keyring.core
    import keyring.errors  # noqa: F401 - needed by delete, loaded with the rest

    for plugin in entry_points(group="keyring.backends"):
        try:
            plugin.load()
        except Exception:  # a broken plugin is keyring's to report, not ours
            continue


def _detect() -> tuple[Any, str]:
    """The backend keyring would choose, weighed afresh (keyring's own choice is
    cached for the whole process, and a keyring may start or stop meanwhile), and
    why the Secret Service is not usable when it is not."""
    import keyring.backend
    import keyring.core

    chosen = keyring.core.load_env() or keyring.core.load_config()
    if chosen is not None:
        return chosen, ""
    keyring.backend.get_all_keyring()  # loads the backends' plugins, once
    viable = [
        cls
        for cls in keyring.backend.KeyringBackend.get_viable_backends()
        if cls.__module__ not in _NOT_KEYRINGS
    ]
    if viable:
        return max(viable, key=lambda cls: cls.priority)(), ""
    from keyring.backends import fail

    why = ""
    if sys.platform.startswith("linux"):
        try:
            from keyring.backends import SecretService

            SecretService.Keyring.priority  # noqa: B018 - raises the reason
        except Exception as exc:
            why = printable(exc, 200)
    return fail.Keyring(), why  # type: ignore[no-untyped-call]
