"""Before the browser opens: does ``--server`` answer like an OAuth server?

The verdict on what came back (shared by both ways of asking), and a way of asking
on the standard library's HTTP client, so that a login can check the server before
aiohttp has loaded and send the browser off without waiting for it. It applies the
same policy as every other request (:class:`NetworkSettings`: the trusted
certificates, no redirects followed, the body capped); a request that would go
through a proxy is left to the aiohttp check (:mod:`.probe`), which speaks to
proxies.
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlsplit

from loopback_login.debuglog import debug
from loopback_login.errors import DiscoveryError, NetworkError, printable
from loopback_login.protocol.network import NetworkSettings, explain_tls_error
from loopback_login.protocol.provider import ProviderConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl

__all__ = [
    "MAX_BODY",
    "REACH_HINT",
    "check_directly",
    "judge_discovery",
    "judge_token_endpoint",
    "read_body",
    "timed_out",
    "unreachable",
]


MAX_BODY = 256 * 1024
_HINT = (
    "check --server: it should be https://platform.ringcentral.com, "
    "https://platform.ringcentral.biz or your emulator's URL"
)
REACH_HINT = (
    "check --server and the network (behind a proxy? set HTTPS_PROXY or --proxy)"
)


def judge_discovery(
    provider: ProviderConfig, status: int, kind: str, body: object
) -> bool:
    """The answer to the discovery document's URL: True if it is one, False if the
    server publishes none (ask the token endpoint then); raises otherwise."""
    if status == 200 and isinstance(body, dict) and body.get("issuer"):
        debug(__name__, "%s publishes OpenID discovery", provider.server)
        return True
    if status == 404:
        return False
    if status >= 500:
        raise NetworkError(
            f"{provider.server} is having trouble: HTTP {status}",
            hint="try again in a minute",
        )
    raise DiscoveryError(
        f"{provider.server} does not look like an OAuth server: "
        f"HTTP {status} with {kind}",
        hint=_HINT,
    )


def judge_token_endpoint(
    provider: ProviderConfig, status: int, kind: str, body: object
) -> None:
    """No discovery document: a token endpoint still answers an empty request
    with an OAuth error (RFC 6749 §5.2); raises unless it did."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        debug(__name__, "%s has a token endpoint", provider.server)
        return
    raise DiscoveryError(
        f"{provider.server} does not look like an OAuth server: no discovery "
        f"document (HTTP 404), and its token endpoint answered HTTP {status} "
        f"with {kind}",
        hint=_HINT,
    )


def read_body(raw: bytes, content_type: str) -> tuple[str, object]:
    """A word on what came back, and the JSON body (None if not JSON)."""
    body: object = None
    try:
        body = json.loads(raw) if raw.strip() else None
    except (ValueError, RecursionError):
        body = None
    if "html" in content_type:
        kind = "an HTML page"
    elif body is not None:
        kind = "JSON"
    else:
        kind = content_type or "no body"
    return kind, body


def unreachable(server: str, exc: OSError) -> NetworkError:
    """``cannot reach SERVER: connection refused``, in the words of the OS."""
    code = exc.errno
    reason = os.strerror(code).lower() if code else exc.strerror or type(exc).__name__
    return NetworkError(
        f"cannot reach {server}: {printable(reason, 120)}", hint=REACH_HINT
    )


def timed_out(server: str, seconds: float) -> NetworkError:
    return NetworkError(
        f"{server} did not answer within {seconds:g} s",
        hint=REACH_HINT + ", or allow more time with --http-timeout",
    )


def check_directly(
    provider: ProviderConfig,
    network: NetworkSettings,
    timeout: float,
    context: ssl.SSLContext | None = None,
) -> None:
    """:func:`judge` over ``http.client``, each request within ``timeout`` seconds
    in all. Only where no proxy stands between us and the server. ``context``: the one
    ``network.ssl_context()`` made already, if it did."""
    import http.client
    import time

    parts = urlsplit(provider.server)
    host = parts.hostname or ""
    # ssl loads only for an https server: a plain-http one (an emulator) never
    # needs it, and it is a good part of what a person waits for.
    tls_errors: tuple[type[Exception], ...] = ()
    if parts.scheme != "https":
        context = None
    else:
        import ssl

        tls_errors = (ssl.SSLError, ssl.CertificateError)
        if context is None:
            context = network.ssl_context()

    def ask(method: str, url: str) -> tuple[int, str, object]:
        deadline = time.monotonic() + timeout
        target = urlsplit(url)
        path = target.path + (f"?{target.query}" if target.query else "")
        connection: http.client.HTTPConnection
        if context is not None:
            connection = http.client.HTTPSConnection(
                host, parts.port, timeout=timeout, context=context
            )
        else:
            connection = http.client.HTTPConnection(host, parts.port, timeout=timeout)
        headers = {"Accept": "application/json"}
        body = b""
        if method == "POST":  # an empty form, as aiohttp sends data={}
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body if method == "POST" else None,
                               headers=headers)  # fmt: skip
            if connection.sock is not None:
                connection.sock.settimeout(max(0.001, deadline - time.monotonic()))
            response = connection.getresponse()
            raw = response.read(MAX_BODY)
            header = response.getheader("Content-Type")
            content_type = (
                response.headers.get_content_type()
                if header
                else "application/octet-stream"
            )
            return (response.status, *read_body(raw, content_type))
        except tls_errors as exc:
            message, hint = explain_tls_error(exc, parts.netloc)  # type: ignore[arg-type]
            raise NetworkError(message, hint=hint) from exc
        except TimeoutError as exc:
            raise timed_out(provider.server, timeout) from exc
        except http.client.HTTPException as exc:
            raise NetworkError(
                f"cannot talk to {provider.server}: {type(exc).__name__}",
                hint="check --server and the network",
            ) from exc
        except OSError as exc:
            raise unreachable(provider.server, exc) from exc
        finally:
            connection.close()

    if not judge_discovery(provider, *ask("GET", provider.discovery_url)):
        judge_token_endpoint(provider, *ask("POST", provider.token_endpoint))
