"""The environment variables loopback-login reads, named once.

Core: imported by the cached ``token`` path, so it holds names and nothing else.
"""

from __future__ import annotations

__all__ = [
    "CLIENT_ID_ENV",
    "CLIENT_SECRET_ENV",
    "CONFIG_ENV",
    "HOME_ENV",
    "PROFILE_ENV",
    "SERVER_ENV",
    "TOKEN_ENV",
    "TOKEN_FILE_ENV",
    "URL_ENV",
]

PROFILE_ENV = "LOOPBACK_LOGIN_PROFILE"  # the profile used without --profile
HOME_ENV = "LOOPBACK_LOGIN_HOME"  # where sessions are kept, instead of the state folder
# Read once and taken out of the environment: children (the browser) must not see it.
CLIENT_SECRET_ENV = "LOOPBACK_LOGIN_CLIENT_SECRET"
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
