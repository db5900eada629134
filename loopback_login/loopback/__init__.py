"""The redirect URI and the person's round trip: the listener's settings, its
sockets, the aiohttp server and its pages, browser openers, and the wait for the
callback (or a pasted redirect URL).

Rule: may import ``protocol`` (to parse the callback) and the core; never the
store, the session or the CLI. Internal: import public names from the package root.
"""
