"""MSAL's cached path, as a CLI built on it runs: load the serialized token cache
and the persisted HTTP cache, then ``acquire_token_silent``.

``python bench/peers/msal_token.py DIR``, where DIR holds ``config.json``,
``token_cache.json`` and ``http_cache.pickle`` (see token_startup.py). The HTTP
cache is MSAL's documented way for a CLI to skip the authority's discovery request
on every run (``http_cache``); without it the constructor would go to the network.
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

if len(sys.argv) > 2 and sys.argv[2] == "--no-network":
    import no_network  # noqa: F401 - the check run only: any socket use fails

import msal

folder = Path(sys.argv[1])
config = json.loads((folder / "config.json").read_text())
cache = msal.SerializableTokenCache()
cache.deserialize((folder / "token_cache.json").read_text())
with open(folder / "http_cache.pickle", "rb") as f:
    http_cache = pickle.load(f)
app = msal.PublicClientApplication(
    config["client_id"],
    authority=config["authority"],
    instance_discovery=False,
    token_cache=cache,
    http_cache=http_cache,
)
accounts = app.get_accounts()
result = (
    app.acquire_token_silent(config["scopes"], account=accounts[0])
    if accounts
    else None
)
if not result or "access_token" not in result:
    print(f"no cached token: {result}", file=sys.stderr)
    sys.exit(1)
print(result["access_token"])
