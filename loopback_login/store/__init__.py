"""The token cache: one private file per profile, the lock across processes, an
in-memory twin, and reading a still-valid token.

Rule: the standard library's core and ``loopback_login.errors`` only — no json,
no aiohttp, no click — because the cached ``loopback-login token`` path runs on this
package alone. The refresh token of a ``--storage keyring`` profile goes through
``keyring_store`` and ``os_keyring``, which load the optional ``keyring`` package
lazily, and only when a refresh, a login or a logout needs the secret.
Internal: import public names from the package root.
"""
