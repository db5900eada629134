"""google-auth's cached path: load an authorized-user file, print the token if valid.

``python bench/peers/google_token.py FILE``; exits 1 when the token is not valid
(google-auth would then refresh over the network, which the bench never wants).
"""

from __future__ import annotations

import sys

if len(sys.argv) > 2 and sys.argv[2] == "--no-network":
    import no_network  # noqa: F401 - the check run only: any socket use fails

from google.oauth2.credentials import Credentials

creds = Credentials.from_authorized_user_file(sys.argv[1])
if not creds.valid:
    sys.exit(1)
print(creds.token)
