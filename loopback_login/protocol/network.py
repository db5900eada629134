"""How requests reach the server: which proxy, which certificates to trust.

One policy for every request the client side makes (discovery, keys, token, revoke,
the check before the browser opens, and the API calls of adapters): the HTTP session
that :class:`~loopback_login.protocol.wiring.Wiring` makes applies it to each request,
so no caller can forget it.

Proxies: ``--proxy`` (remembered by the profile) wins over ``HTTPS_PROXY``,
``HTTP_PROXY`` and ``NO_PROXY`` (lower-case forms first, as curl and Python's urllib
read them). Loopback hosts (``localhost``, 127.0.0.0/8, ``::1``) are never proxied,
as Go's and kubelogin's rule has it: a proxy elsewhere cannot reach this machine's
emulator or server. The environment is read by us, not by aiohttp's ``trust_env``,
which would also send ``~/.netrc`` passwords to the server.

Trust: the system's certificates, plus ``--ca-file`` and ``SSL_CERT_FILE`` (a
corporate proxy's root, a private CA). On macOS and Windows, where IT installs such
roots in the operating system's store and Python does not read it, ``truststore``
reads it. Verification is never turned off.

aiohttp is imported only where a session is made or its errors are read: the policy
itself (which proxy, which trust) is also what the check before the browser opens
applies, on the standard library's client, before aiohttp has loaded.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from loopback_login.errors import ConfigError, NetworkError, printable

if TYPE_CHECKING:
    import ssl  # loaded on first use: a login to a plain-http server never needs it

    import aiohttp

    MiddlewareHandler = Callable[
        [aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]
    ]

__all__ = [
    "NetworkSettings",
    "ProxyChoice",
    "explain_tls_error",
    "is_loopback_host",
    "redact",
]

_PROXY_SCHEMES = ("http", "https")


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address: never sent through a proxy."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


def redact(url: str) -> str:
    """``url`` without its user and password, for messages and logs."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    netloc = parts.netloc.rpartition("@")[2]  # even with a port that does not parse
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class ProxyChoice:
    """The proxy for one request: its URL without credentials, the credentials
    (user, password), and where it was named."""

    url: str
    auth: tuple[str, str] | None = field(default=None, repr=False)
    source: str = "--proxy"

    def headers(self) -> dict[str, str] | None:
        """``Proxy-Authorization`` (Basic), sent to the proxy only."""
        if self.auth is None:
            return None
        user, password = self.auth
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return {"Proxy-Authorization": f"Basic {token}"}


def _parse_proxy(value: str, source: str) -> ProxyChoice:
    text = value.strip()
    if "://" not in text:
        text = "http://" + text  # as curl: a bare host:port is an HTTP proxy
    parts = urlsplit(text)
    shown = redact(text)
    if parts.scheme not in _PROXY_SCHEMES or not parts.hostname:
        raise ConfigError(
            f"{source} {shown!r} is not an http:// or https:// proxy URL",
            hint="give it as http://proxy.example.com:3128 (SOCKS proxies are not "
            "supported)",
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{source} {shown!r} has a bad port") from exc
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(
            f"{source} {shown!r} must be a plain URL",
            hint="give only scheme, host and port: http://proxy.example.com:3128",
        )
    auth = None
    if parts.username is not None:
        from urllib.parse import unquote

        auth = (unquote(parts.username), unquote(parts.password or ""))
    host = parts.hostname
    host = f"[{host}]" if ":" in host else host
    url = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    return ProxyChoice(url=url, auth=auth, source=source)


def _env(environ: Mapping[str, str], name: str) -> str | None:
    # Lower case first, as curl and urllib; an empty value means "unset".
    for key in (name.lower(), name.upper()):
        value = environ.get(key)
        if value and value.strip():
            return value.strip()
    return None


def _no_proxy_matches(host: str, port: int | None, no_proxy: str) -> bool:
    """NO_PROXY as curl and Go read it: ``*``, names (a leading dot optional)
    matching the host and its subdomains, IP addresses and CIDR ranges, each with
    an optional ``:port``."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = (
            ipaddress.ip_address(host)
        )
    except ValueError:
        address = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry_port = None
        if entry.startswith("["):
            inner, _, rest = entry[1:].partition("]")
            entry = inner
            if rest.startswith(":") and rest[1:].isdigit():
                entry_port = int(rest[1:])
        elif entry.count(":") == 1:
            name, _, maybe_port = entry.partition(":")
            if maybe_port.isdigit():
                entry, entry_port = name, int(maybe_port)
        if entry_port is not None and port is not None and entry_port != port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        entry = entry.lstrip(".").rstrip(".")
        if entry and (host == entry or host.endswith("." + entry)):
            return True
    return False


@dataclass(frozen=True)
class NetworkSettings:
    """Proxy and trust for one session.

    ``proxy`` and ``ca_file`` are what was given (``--proxy``, ``--ca-file``) or
    what the profile remembers; ``environ`` is where ``HTTPS_PROXY`` and friends are
    read (this process's environment unless given). ``direct`` says which hosts never
    go through a proxy: loopback ones; tests may give another rule to send a local
    emulator through a real proxy.
    """

    proxy: str | None = None
    ca_file: str | None = None
    environ: Mapping[str, str] | None = field(default=None, repr=False, compare=False)
    direct: Callable[[str], bool] = field(
        default=is_loopback_host, repr=False, compare=False
    )

    def __repr__(self) -> str:
        # The proxy URL may carry a password: never in a repr, a log or a traceback.
        shown = redact(self.proxy) if self.proxy else None
        return f"NetworkSettings(proxy={shown!r}, ca_file={self.ca_file!r})"

    def __post_init__(self) -> None:
        if self.proxy is not None:
            _parse_proxy(self.proxy, "--proxy")  # fail at once, not on first use
        if self.ca_file is not None:
            object.__setattr__(self, "ca_file", os.path.abspath(self.ca_file))

    @property
    def _environ(self) -> Mapping[str, str]:
        return os.environ if self.environ is None else self.environ

    # -- what a profile remembers ---------------------------------------------

    def to_profile(self) -> dict[str, Any]:
        """The proxy without its credentials (a proxy password is often a person's
        own; it is never written to disk) and the CA file's path."""
        return {
            "proxy": redact(self.proxy) if self.proxy else None,
            "ca_file": self.ca_file,
        }

    @classmethod
    def from_profile(
        cls, data: Mapping[str, Any], *, environ: Mapping[str, str] | None = None
    ) -> NetworkSettings:
        proxy = data.get("proxy")
        ca_file = data.get("ca_file")
        return cls(
            proxy=proxy if isinstance(proxy, str) and proxy else None,
            ca_file=ca_file if isinstance(ca_file, str) and ca_file else None,
            environ=environ,
        )

    # -- proxies -------------------------------------------------------------------

    def proxy_for(self, url: str) -> ProxyChoice | None:
        """The proxy a request to ``url`` goes through, or None to go direct."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if self.direct(host):
            return None
        environ = self._environ
        if self.proxy is not None:
            chosen = _parse_proxy(self.proxy, "--proxy")
            if chosen.auth is None:
                chosen = self._borrow_credentials(chosen)
            return chosen
        if parts.scheme == "https":
            name = "HTTPS_PROXY"
        else:
            name = "HTTP_PROXY"
            # A CGI script's HTTP_PROXY may come from a request header ("httpoxy").
            if "REQUEST_METHOD" in environ:
                name = "http_proxy_cgi_ignored"
        value = _env(environ, name) or _env(environ, "ALL_PROXY")
        if value is None:
            return None
        no_proxy = _env(environ, "NO_PROXY")
        if no_proxy and _no_proxy_matches(host, parts.port, no_proxy):
            return None
        return _parse_proxy(value, f"${name.upper()}")

    def _borrow_credentials(self, chosen: ProxyChoice) -> ProxyChoice:
        """A remembered proxy has no password: take it from the environment's
        proxy variables when they name the same proxy."""
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
            value = _env(self._environ, name)
            if value is None:
                continue
            try:
                candidate = _parse_proxy(value, f"${name}")
            except ConfigError:
                continue
            if candidate.url == chosen.url and candidate.auth is not None:
                return ProxyChoice(chosen.url, candidate.auth, chosen.source)
        return chosen

    # -- trust ---------------------------------------------------------------------

    def ca_files(self) -> list[tuple[str, str]]:
        """The extra CA files to trust, each with where it was named."""
        files = []
        if self.ca_file:
            files.append((self.ca_file, "--ca-file"))
        env_file = self._environ.get("SSL_CERT_FILE")
        if env_file:
            files.append((env_file, "SSL_CERT_FILE"))
        return files

    def _files_to_add(self) -> list[tuple[str, str]]:
        """:meth:`ca_files` less ``SSL_CERT_FILE`` where OpenSSL reads it itself:
        on Linux the system's trust *is* loaded from it (set_default_verify_paths),
        so loading it again would double the cost (tens of milliseconds for a full
        bundle) for nothing. Elsewhere the OS store is read, which ignores it."""
        files = self.ca_files()
        if sys.platform in ("darwin", "win32"):
            return files
        process = os.environ.get("SSL_CERT_FILE")
        return [f for f in files if not (f[1] == "SSL_CERT_FILE" and f[0] == process)]

    def ssl_context(self) -> ssl.SSLContext:
        """The system's trust, plus the CA files; always verifying."""
        import ssl

        extra = self._files_to_add()
        if not extra:
            if sys.platform in ("darwin", "win32"):
                return _os_trust_store()
            return _system_trust()
        context = ssl.create_default_context()
        self._load_ca_files(context, extra)
        return context

    def check_ca_files(self) -> None:
        """Raise :class:`ConfigError` unless every CA file loads, without loading
        the system's trust (tens of milliseconds, and not needed to judge a file).
        With none, no context is made at all: OpenSSL's first one costs as much."""
        extra = self.ca_files()
        if extra:
            import ssl

            self._load_ca_files(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), extra)

    @staticmethod
    def _load_ca_files(context: ssl.SSLContext, extra: list[tuple[str, str]]) -> None:
        import ssl

        for path, source in extra:
            try:
                context.load_verify_locations(cafile=path)
            except FileNotFoundError:
                raise ConfigError(
                    f"{source} {path}: no such file",
                    hint="give the path of a PEM file with the CA certificate "
                    "(ask IT for the proxy's root certificate)",
                ) from None
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise ConfigError(
                    f"{source} {path} holds no usable PEM certificate "
                    f"({printable(getattr(exc, 'reason', None) or exc, 120)})",
                    hint="it must be a PEM file (-----BEGIN CERTIFICATE-----)",
                ) from None

    # -- the session -------------------------------------------------------------

    def client_session(self) -> aiohttp.ClientSession:
        """An HTTP session that applies this policy to every request it makes."""
        import aiohttp

        connector = aiohttp.TCPConnector(ssl=self.ssl_context())
        return aiohttp.ClientSession(
            connector=connector, trust_env=False, middlewares=(self._route,)
        )

    async def _route(
        self, request: aiohttp.ClientRequest, handler: MiddlewareHandler
    ) -> aiohttp.ClientResponse:
        import aiohttp
        from yarl import URL

        from loopback_login.protocol.explained import Explained

        chosen = self.proxy_for(str(request.url))
        if chosen is None:
            request.update_proxy(None, None, None)
        else:
            request.update_proxy(URL(chosen.url), None, chosen.headers())
        try:
            return await handler(request)
        except aiohttp.ClientError as exc:
            explained = explain_network_error(exc, str(request.url), chosen)
            if explained is None:
                raise
            raise Explained(explained.message, hint=explained.hint) from exc


_VERIFY_REASONS = {
    10: "its certificate has expired",
    9: "its certificate is not valid yet",
    18: "its certificate is self-signed",
    19: "it is signed by an unknown authority (a self-signed root in the chain)",
    20: "it is signed by an unknown authority",
    21: "it is signed by an unknown authority",
    62: "its certificate is for another name",
    64: "its certificate is for another address",
}


def explain_tls_error(
    exc: ssl.SSLError | ssl.CertificateError | OSError | None, host: str
) -> tuple[str, str]:
    """Why a TLS handshake with ``host`` failed, and what to do: a message and a hint."""
    import ssl

    fix_trust = (
        "if a corporate proxy or a private CA signs it, give its root certificate "
        "with --ca-file PEM (or SSL_CERT_FILE); ask IT for the proxy's root"
    )
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = _VERIFY_REASONS.get(exc.verify_code or 0) or printable(
            exc.verify_message or exc.reason or exc, 160
        )
        if exc.verify_code in (62, 64) or "mismatch" in str(exc).lower():
            return (
                f"the TLS certificate of {host} is not trusted: "
                "its certificate is for another name",
                "check --server: the certificate names another server; " + fix_trust,
            )
        if exc.verify_code in (9, 10):
            return (
                f"the TLS certificate of {host} is not trusted: {reason}",
                "check this computer's date and time; if they are right, the server "
                "must renew its certificate",
            )
        return (f"the TLS certificate of {host} is not trusted: {reason}", fix_trust)
    reason = printable(getattr(exc, "reason", None) or exc or "unknown", 160)
    plain = reason.lower().replace("_", " ")
    if "wrong version number" in plain or "record layer" in plain:
        return (
            f"TLS with {host} failed: it does not speak TLS on that port ({reason})",
            "check --server: the port may serve plain http",
        )
    return (f"TLS with {host} failed: {reason}", "check --server; " + fix_trust)


def explain_network_error(
    exc: aiohttp.ClientError, url: str, proxy: ProxyChoice | None
) -> NetworkError | None:
    """TLS and proxy failures as one sentence naming the host and the fix; None
    for the rest, which each caller words for its own endpoint."""
    import aiohttp

    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    shown = f"{proxy.url} (from {proxy.source})" if proxy else ""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cause = exc.certificate_error
        message, hint = explain_tls_error(
            cause if isinstance(cause, OSError) else None, host
        )
        return NetworkError(message, hint=hint)
    if isinstance(exc, aiohttp.ClientProxyConnectionError) and proxy is not None:
        strerror = getattr(exc.os_error, "strerror", None) or type(exc).__name__
        return NetworkError(
            f"cannot connect to the proxy {shown}: {printable(strerror, 120)}",
            hint="check --proxy and HTTPS_PROXY/HTTP_PROXY, or NO_PROXY for hosts "
            "that must be reached directly",
        )
    if isinstance(exc, aiohttp.ClientHttpProxyError) and proxy is not None:
        if exc.status == 407:
            hint = (
                "the proxy wants credentials: give them in its URL, "
                "http://user:password@proxy:port (NTLM and Kerberos proxies are not "
                "supported)"
            )
        else:
            hint = "the proxy may not allow this host: ask IT, or check --proxy"
        return NetworkError(
            f"the proxy {shown} refused to connect to {host}: HTTP {exc.status} "
            f"{printable(exc.message, 80)}",
            hint=hint,
        )
    if isinstance(exc, (aiohttp.ClientConnectorSSLError, aiohttp.ClientSSLError)):
        os_error = getattr(exc, "os_error", None)
        message, hint = explain_tls_error(
            os_error if isinstance(os_error, OSError) else None, host
        )
        if proxy is not None and parts.scheme == "http":
            message = f"TLS with the proxy {shown} failed"
        return NetworkError(message, hint=hint)
    return None


_SYSTEM_TRUST: dict[tuple[str | None, str | None], ssl.SSLContext] = {}


def _system_trust() -> ssl.SSLContext:
    """The system's trust, loaded once per process for each place OpenSSL would
    read it from (``SSL_CERT_FILE``, ``SSL_CERT_DIR``). Shared, so never changed:
    a context with more in it is always a new one."""
    import ssl

    where = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    context = _SYSTEM_TRUST.get(where)
    if context is None:
        context = _SYSTEM_TRUST[where] = ssl.create_default_context()
    return context


def _os_trust_store() -> ssl.SSLContext:
    """The operating system's certificate store where Python does not read it."""
    import ssl

    try:
        import truststore
    except ImportError:  # pragma: no cover - installed with the package there
        return ssl.create_default_context()
    context: ssl.SSLContext = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return context
