"""The environment variables loopback-login reads, named once.

Core: imported by the cached ``token`` path, so it holds names and nothing else.
"""

from __future__ import annotations

__all__ = [
    "CLIENT_ID_ENV",
    "CLIENT_SECRET_ENV",
    "CONFIG_ENV",
    "HOME_ENV",
    "JWT_ENV",
    "KEYRING_TIMEOUT_ENV",
    "PROFILE_ENV",
    "RC_JWT_ENV",
    "SERVER_ENV",
    "TOKEN_ENV",
    "TOKEN_FILE_ENV",
    "URL_ENV",
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
# Settings given once for every login, above the config file, below the options.
CLIENT_ID_ENV = "LOOPBACK_LOGIN_CLIENT_ID"
SERVER_ENV = "LOOPBACK_LOGIN_SERVER"
CONFIG_ENV = (
    "LOOPBACK_LOGIN_CONFIG"  # the settings file, instead of the config folder's
)
# What `exec` and `token --format env` give other programs.
TOKEN_ENV = "RINGCENTRAL_ACCESS_TOKEN"
URL_ENV = "RINGCENTRAL_SERVER_URL"
TOKEN_FILE_ENV = "RINGCENTRAL_ACCESS_TOKEN_FILE"
