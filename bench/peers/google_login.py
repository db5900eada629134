"""google-auth-oauthlib's browser login: ``InstalledAppFlow.run_local_server``.

``python bench/peers/google_login.py SERVER CLIENT_ID CLIENT_SECRET SCOPE``; the
browser is ``$BROWSER`` (``webbrowser``), as for any program that uses the flow.
Exits 0 once it holds an access token.
"""

from __future__ import annotations

import sys

from google_auth_oauthlib.flow import InstalledAppFlow

server, client_id, secret, scope = sys.argv[1:5]
config = {
    "installed": {
        "client_id": client_id,
        "client_secret": secret,
        "auth_uri": f"{server}/restapi/oauth/authorize",
        "token_uri": f"{server}/restapi/oauth/token",
        "redirect_uris": ["http://127.0.0.1"],
    }
}
flow = InstalledAppFlow.from_client_config(config, scopes=scope.split())
creds = flow.run_local_server(
    host="127.0.0.1",
    port=0,
    open_browser=True,
    authorization_prompt_message=None,
    timeout_seconds=30,
)
sys.exit(0 if creds.token else 1)
