"""The environment variables loopback-login reads, named once.

Core: imported by the cached ``token`` path, so it holds names and nothing else.
"""

from __future__ import annotations

__all__ = ["CLIENT_SECRET_ENV", "HOME_ENV", "KEYRING_TIMEOUT_ENV", "PROFILE_ENV"]

PROFILE_ENV = "LOOPBACK_LOGIN_PROFILE"  # the profile used without --profile
HOME_ENV = "LOOPBACK_LOGIN_HOME"  # where sessions are kept, instead of the state folder
# Read once and taken out of the environment: children (the browser) must not see it.
CLIENT_SECRET_ENV = "LOOPBACK_LOGIN_CLIENT_SECRET"
# Seconds each call to the OS keyring may take before it counts as not answering.
KEYRING_TIMEOUT_ENV = "LOOPBACK_LOGIN_KEYRING_TIMEOUT"
