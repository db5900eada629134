"""The use cases: the profile's entry (load, parse, set aside), one browser
sign-in, one refresh under the lock, and the orchestrator ``LoginSession`` that
logs in, hands out valid tokens and logs out.

Rule: may import ``protocol``, ``loopback``, ``store`` and the core; never the CLI.
Internal: import public names from the package root.
"""
