"""The client side of OAuth 2.0 and OpenID Connect: provider settings, the URL
policy, PKCE, the authorize URL and its callback, the token set, client
authentication, the token/revoke client, discovery and keys, ID-token checks.

Rule: no listener, no disk. Imports the core (``errors``, ``clock``) and
``store.expiry`` only; nothing here knows about the browser, the cache or the CLI.
Internal: import public names from the package root.
"""
