"""What a refused access token leads to when no successor can be had."""

from __future__ import annotations

from loopback_login.errors import LoopbackLoginError

__all__ = ["still_rejected"]


def still_rejected(profile: str) -> LoopbackLoginError:
    """The refresh failed inside the margin, so the refused token is all there is:
    handing it back would only be refused again."""
    return LoopbackLoginError(
        f"the server refused the access token of profile {profile!r} and it could "
        "not be refreshed",
        hint=f"check the network, then run: loopback-login token --profile {profile}",
    )
