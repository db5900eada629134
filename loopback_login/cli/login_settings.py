"""How ``login``'s options combine with what the profile remembers from its last
login (options given now win). No click here: the login that sends the browser off
before loading the rest builds its settings with these too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from loopback_login.environment import CLIENT_ID_ENV
from loopback_login.errors import UsageError
from loopback_login.protocol.network import NetworkSettings
from loopback_login.protocol.provider import AUTHORIZE_PARAMS, ProviderConfig

__all__ = ["build_network", "build_provider"]


def build_provider(
    opts: Mapping[str, Any], remembered: Mapping[str, Any] | None, secret: str | None
) -> ProviderConfig:
    """Options given now override what the profile remembers from the last login."""
    base: dict[str, Any] = dict(remembered) if remembered else {}
    if opts["client_id"] and opts["client_id"] != base.get("client_id"):
        base = {"server": base.get("server")}  # another app: forget the rest
    base.setdefault("server", None)
    for key in (
        "server",
        "client_id",
        "issuer",
        "jwks_uri",
        "scope",
        "method",
        "key_id",
        "grant",
    ):
        if opts.get(key):
            base[key] = opts[key]
    if opts.get("client_auth"):
        base["client_auth"] = opts["client_auth"]
    elif opts.get("private_key") or (secret and base.get("client_auth") == "none"):
        base.pop("client_auth", None)  # infer again from what was given
    if opts.get("private_key"):
        base["private_key_path"] = os.path.abspath(opts["private_key"])
    if opts.get("pkce"):
        base["pkce_method"] = opts["pkce"]
    params = dict(base.get("authorize_params") or {})
    params.update({k: opts[k] for k in AUTHORIZE_PARAMS if opts.get(k)})
    base["authorize_params"] = params
    token_params = dict(base.get("token_params") or {})
    for key in ("endpoint_id", "access_token_ttl", "refresh_token_ttl"):
        if opts.get(key) is not None:
            token_params[key] = str(opts[key])
    base["token_params"] = token_params
    base["server"] = base["server"] or "production"
    if not base.get("client_id"):
        raise UsageError(
            "no client id given",
            hint="pass --client-id with the app's Client ID, or set it once: "
            f"export {CLIENT_ID_ENV}=CLIENT_ID, or loopback-login config set "
            "client-id CLIENT_ID (try `loopback-login demo` without one)",
        )
    return ProviderConfig.from_profile(base, client_secret=secret)


def build_network(
    opts: Mapping[str, Any], remembered: Mapping[str, Any] | None, *, check: bool = True
) -> NetworkSettings:
    """``--proxy`` and ``--ca-file`` given now, else as the profile remembers them;
    ``none`` forgets the remembered one. A CA file is checked here, before anything
    goes over the network (``check=False``: the caller checks it itself, before)."""
    settings = dict(remembered) if remembered else {}
    for key in ("proxy", "ca_file"):
        value = opts.get(key)
        if value is None:
            continue
        settings[key] = None if value.strip().lower() in ("", "none") else value
    network = NetworkSettings.from_profile(settings)
    if check:
        network.check_ca_files()
    return network
