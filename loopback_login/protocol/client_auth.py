"""Client authentication at the token and revoke endpoints.

``none`` (public clients: ``client_id`` in the body, no ``Authorization`` header —
RingCentral refuses a Basic header with an empty secret), ``client_secret_basic``
(RFC 6749 §2.3.1), and the two JWT assertions of RFC 7523 §2.2 / OIDC Core §9:
``client_secret_jwt`` (HS256) and ``private_key_jwt`` (RS256 or ES256).
"""

from __future__ import annotations

import base64
import functools
import warnings
from urllib.parse import quote_plus

from loopback_login.environment import CLIENT_SECRET_ENV
from loopback_login.errors import ConfigError, printable
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.store.small_files import read_small_file

__all__ = ["ASSERTION_TYPE", "client_auth"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_KEY_BYTES = 64 * 1024
"""A PEM RSA key of 8192 bits is under 7 KiB; a file past this is no key (``/dev/zero``)."""
ASSERTION_LIFETIME = 300
"""Seconds an assertion stays valid: long enough for clock skew, short for replay."""

_SECRET_HINT = (
    f"set {CLIENT_SECRET_ENV} or pass --client-secret-file with the app's Client Secret"
)


def client_auth(
    config: ProviderConfig, endpoint: str, *, now: float
) -> tuple[dict[str, str], dict[str, str]]:
    """The ``(headers, form fields)`` that authenticate the client to ``endpoint``.

    An assertion's ``aud`` is the URL of the endpoint being called, and each
    assertion gets a fresh ``jti``, so none can be replayed elsewhere.
    """
    method = config.auth_method
    if method == "none":
        return {}, {"client_id": config.client_id}
    if method == "client_secret_basic":
        secret = _require_secret(config, method)
        # RFC 6749 §2.3.1: form-urlencode both parts before base64.
        pair = f"{quote_plus(config.client_id)}:{quote_plus(secret)}"
        token = base64.b64encode(pair.encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}, {}
    from authlib.oauth2.rfc7523 import client_secret_jwt_sign, private_key_jwt_sign

    claims = {"issued_at": int(now), "expires_at": int(now) + ASSERTION_LIFETIME}
    header = {"kid": config.key_id} if config.key_id else None
    if method == "client_secret_jwt":
        from joserfc.jwk import OctKey

        with warnings.catch_warnings():
            # joserfc warns about a short secret; the server chose it, not the user.
            warnings.simplefilter("ignore")
            key = OctKey.import_key(_require_secret(config, method))
        assertion = client_secret_jwt_sign(
            key, config.client_id, endpoint, alg="HS256", header=header, **claims
        )
    else:
        private_key, alg = _load_private_key(config.private_key_path)
        assertion = private_key_jwt_sign(
            private_key, config.client_id, endpoint, alg=alg, header=header, **claims
        )
    return {}, {
        "client_id": config.client_id,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": _text(assertion),
    }


def _text(value: str | bytes) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else value


def _require_secret(config: ProviderConfig, method: str) -> str:
    if not config.client_secret:
        raise ConfigError(f"{method} needs the client secret", hint=_SECRET_HINT)
    return config.client_secret


def _load_private_key(path: str | None) -> tuple[object, str]:
    """A PEM private key and the algorithm that goes with it (RS256 or ES256).

    The file is read on every call, so a key replaced on disk is used at once;
    only the parsing of the same bytes is cached.
    """
    if not path:
        raise ConfigError(
            "private_key_jwt needs a private key",
            hint="pass --private-key with the path of a PEM file",
        )
    shown = printable(path)
    pem = read_small_file(
        path,
        MAX_KEY_BYTES,
        what=f"the private key {shown}",
        hint="check --private-key",
        too_large=f"{shown} is larger than {MAX_KEY_BYTES // 1024} KiB: not a PEM "
        "private key",
        too_large_hint="check --private-key",
    )
    return _parse_private_key(pem, shown)


@functools.lru_cache(maxsize=8)
def _parse_private_key(pem: bytes, path: str) -> tuple[object, str]:
    from joserfc.errors import JoseError
    from joserfc.jwk import ECKey, RSAKey

    for key_type, alg in ((RSAKey, "RS256"), (ECKey, "ES256")):
        try:
            key = key_type.import_key(pem)
        except (JoseError, ValueError, TypeError):
            continue
        if not key.is_private:
            break
        curve = getattr(key, "curve_name", "P-256")
        if curve != "P-256":
            raise ConfigError(f"{path} is an EC key on {curve}; ES256 needs P-256")
        return key, alg
    raise ConfigError(
        f"{path} is not a PEM private RSA or P-256 EC key",
        hint="give the private key whose public half is registered with the app",
    )
