"""The environment variables loopback-login reads, named once.

Core: imported by the cached ``token`` path, so it holds names and nothing else.
"""

from __future__ import annotations

__all__ = [
    "CLIENT_SECRET_ENV",
    "HOME_ENV",
    "JWT_ENV",
    "KEYRING_TIMEOUT_ENV",
    "PROFILE_ENV",
    "RC_JWT_ENV",
]

PROFILE_ENV = "LOOPBACK_LOGIN_PROFILE"  # the profile used without --profile
HOME_ENV = "LOOPBACK_LOGIN_HOME"  # where sessions are kept, instead of the state folder
# Read once and taken out of the environment: children (the browser) must not see it.
CLIENT_SECRET_ENV = "LOOPBACK_LOGIN_CLIENT_SECRET"
# A user's JWT credential, read and taken out like the client secret.
JWT_ENV = "LOOPBACK_LOGIN_JWT"
# RingCentral's own samples keep it here: read too, so a job set up for them
# needs no second copy of the secret.
RC_JWT_ENV = "RC_USER_JWT"
# Seconds each call to the OS keyring may take before it counts as not answering.
KEYRING_TIMEOUT_ENV = "LOOPBACK_LOGIN_KEYRING_TIMEOUT"
