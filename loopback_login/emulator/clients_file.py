"""Clients from a JSON file, for ``loopback-login emulator --clients FILE``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from loopback_login.emulator.config import EmulatorClient, check_unique
from loopback_login.errors import ConfigError

__all__ = ["MAX_CLIENTS_FILE_BYTES", "load_clients_file"]

MAX_CLIENTS_FILE_BYTES = 1024 * 1024


def load_clients_file(path: str | os.PathLike[str]) -> tuple[EmulatorClient, ...]:
    """Read clients from a JSON file shaped ``{"clients": [{...}, ...]}``.

    Each entry takes the :class:`EmulatorClient` field names; ``redirect_uris`` is
    a list. Raises :class:`ConfigError` naming the file and the entry at fault.
    """
    source = Path(path)
    try:
        with source.open("rb") as file:
            raw = file.read(MAX_CLIENTS_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read clients file {source}: {exc.strerror}") from exc
    if len(raw) > MAX_CLIENTS_FILE_BYTES:
        raise ConfigError(
            f"clients file {source} is larger than "
            f"{MAX_CLIENTS_FILE_BYTES // 1024 // 1024} MiB"
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"clients file {source} is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"clients file {source} is not valid JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno})"
        ) from exc
    except RecursionError as exc:
        raise ConfigError(
            f"clients file {source} is nested too deeply to be a clients file"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("clients"), list):
        raise ConfigError(
            f'clients file {source} must hold an object with a "clients" list'
        )
    clients = tuple(
        _client_from_json(entry, f"{source}: clients[{index}]")
        for index, entry in enumerate(data["clients"])
    )
    if not clients:
        raise ConfigError(f"clients file {source} lists no clients")
    check_unique([c.client_id for c in clients], f"client_id in {source}")
    return clients


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "client_id": (str,),
    "client_secret": (str, type(None)),
    "redirect_uris": (list,),
    "auth_method": (str,),
    "jwks": (dict, type(None)),
    "issue_refresh_tokens": (bool,),
    "id_token_alg": (str,),
    "scope": (str,),
    "name": (str,),
}


def _client_from_json(entry: object, where: str) -> EmulatorClient:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be an object")
    unknown = sorted(set(entry) - set(_FIELD_TYPES))
    if unknown:
        raise ConfigError(f"{where} has unknown field(s): {', '.join(unknown)}")
    for required in ("client_id", "redirect_uris"):
        if required not in entry:
            raise ConfigError(f"{where} lacks {required!r}")
    for key, value in entry.items():
        if not isinstance(value, _FIELD_TYPES[key]):
            raise ConfigError(f"{where}: {key!r} has the wrong type")
    uris = entry["redirect_uris"]
    if not all(isinstance(uri, str) for uri in uris):
        raise ConfigError(f"{where}: redirect_uris must be a list of strings")
    try:
        return EmulatorClient(**{**entry, "redirect_uris": tuple(uris)})
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.message}") from exc
