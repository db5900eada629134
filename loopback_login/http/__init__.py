"""Tokens inside the programs that use them: a token source that keeps the token in
memory and follows the profile's entry, and auth adapters for requests, httpx and
aiohttp that send it and, on a 401, ask for the token once more.

Rule: may import ``session``, ``store`` and the core; each adapter module imports
its HTTP library, so importing ``loopback_login`` never does.
"""
