"""The tokens of one session, with absolute expiry times (RingCentral ``TokenInfo``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from loopback_login.errors import TokenEndpointError, printable
from loopback_login.store.expiry import default_margin, needs_refresh
from loopback_login.store.valid import tokens_problem

__all__ = ["ACCESS_TOKEN", "OTHER_TOKEN", "TokenSet"]

T = TypeVar("T")

ACCESS_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
"""RFC 6750 §2.1 ``b64token``: what may follow ``Bearer`` in a header. Anything else
(a CR LF, an ESC) would let the server write headers or terminal commands through
``token --format header`` or a shell's ``$(loopback-login token)``."""
OTHER_TOKEN = re.compile(r"[\x21-\x7e]+")
"""Refresh and ID tokens: printable ASCII without spaces (RFC 6749 §A.17, JWS)."""
MAX_TOKEN_LENGTH = 64 * 1024
_SERVER_HINT = "check --server; if it is right, tell the server's operator"

# TokenInfo fields we keep by name; any other field the server sends goes to ``extra``.
_TIMED = ("expires_in", "refresh_token_expires_in", "session_expires_in")


@dataclass(frozen=True, repr=False)
class TokenSet:
    """What a token response gave us. Pure: every time is passed in."""

    access_token: str
    token_type: str
    issued_at: float
    expires_at: float
    refresh_token: str | None = None
    refresh_token_expires_at: float | None = None
    scope: str | None = None
    id_token: str | None = None
    owner_id: str | None = None
    endpoint_id: str | None = None
    session_id: str | None = None
    session_expires_at: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_response(cls, body: Mapping[str, Any], *, now: float) -> TokenSet:
        """Parse a token response (RFC 6749 §5.1, plus RingCentral's fields).

        Only ``access_token`` is required; a missing ``token_type`` means bearer and a
        missing ``expires_in`` an hour (RingCentral's default), since other servers
        send less. Relative lifetimes become absolute times at ``now``.
        """
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise TokenEndpointError(
                "invalid_response",
                "the response has no access_token",
                hint="the server is not speaking OAuth 2.0 here; check --server",
            )
        _check_token("access_token", access, ACCESS_TOKEN)
        for name in ("refresh_token", "id_token"):
            if body.get(name) not in (None, ""):
                _check_token(name, body[name], OTHER_TOKEN)
        refresh = body.get("refresh_token")
        token_type = body.get("token_type") or "bearer"
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise TokenEndpointError(
                "invalid_response",
                f"unsupported token_type {printable(token_type, 40)!r}",
                hint=_SERVER_HINT,
            )

        def seconds(name: str, *, positive: bool = False) -> float | None:
            value = body.get(name)
            if value is None or value == "":
                return None
            try:
                if isinstance(value, bool):  # JSON true is no number of seconds
                    raise TypeError(name)
                number = float(value)
            except (TypeError, ValueError, OverflowError) as exc:
                raise TokenEndpointError(
                    "invalid_response", f"{name} is not a number", hint=_SERVER_HINT
                ) from exc
            # NaN fails both comparisons; 0 s would be a token dead on arrival.
            low_ok = number > 0 if positive else number >= 0
            if not (low_ok and number < 10**9):
                raise TokenEndpointError(
                    "invalid_response", f"{name} is out of range", hint=_SERVER_HINT
                )
            return number

        def text(name: str) -> str | None:
            value = body.get(name)
            return None if value is None else str(value)

        expires_in = seconds("expires_in", positive=True)
        refresh_in = seconds("refresh_token_expires_in")
        session_in = seconds("session_expires_in")
        known = {
            "access_token", "token_type", "refresh_token", "scope", "id_token",
            "owner_id", "endpoint_id", "session_id", *_TIMED,
        }  # fmt: skip
        return cls(
            access_token=access,
            token_type="bearer",
            issued_at=now,
            expires_at=now + (3600.0 if expires_in is None else expires_in),
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            refresh_token_expires_at=None if refresh_in is None else now + refresh_in,
            scope=text("scope"),
            id_token=text("id_token"),
            owner_id=text("owner_id"),
            endpoint_id=text("endpoint_id"),
            session_id=text("session_id"),
            session_expires_at=None if session_in is None else now + session_in,
            extra={k: v for k, v in body.items() if k not in known},
        )

    @property
    def lifetime(self) -> float:
        """Seconds the server gave this token: what a refresh would give again."""
        return self.expires_at - self.issued_at

    def needs_refresh(self, *, now: float, min_valid: float | None = None) -> bool:
        """Fewer than ``min_valid`` seconds left (default: a margin scaled to the
        lifetime), unless a refresh could not do much better.

        A ``min_valid`` near or past the token's lifetime cannot be met by any
        token, so it is capped: a token in the first tenth of its life (the default
        margin) is as fresh as a refresh would make it. Otherwise each of many
        parallel callers would refresh in turn, against a server that allows five
        a minute.
        """
        if min_valid is not None:
            min_valid = min(min_valid, self.lifetime - default_margin(self.lifetime))
        return needs_refresh(self.expires_at, self.issued_at, now, min_valid)

    def is_expired(self, *, now: float) -> bool:
        return self.expires_at <= now

    def refresh_expired(self, *, now: float) -> bool:
        """No refresh token, or one past its announced end."""
        if self.refresh_token is None:
            return True
        return self.refresh_token_expires_at is not None and (
            self.refresh_token_expires_at <= now
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "refresh_token_expires_at": self.refresh_token_expires_at,
            "scope": self.scope,
            "id_token": self.id_token,
            "owner_id": self.owner_id,
            "endpoint_id": self.endpoint_id,
            "session_id": self.session_id,
            "session_expires_at": self.session_expires_at,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TokenSet:
        """Inverse of :meth:`to_json`.

        Raises ``KeyError``, ``TypeError``, ``ValueError`` or ``OverflowError`` on
        data that is not what :meth:`to_json` wrote; ``ValueError`` for anything
        :func:`tokens_problem` refuses (the rule the cached ``token`` path applies).
        """
        if (problem := tokens_problem(data)) is not None:
            raise ValueError(problem)
        return cls(
            access_token=_text(data["access_token"]),
            token_type=_text(data.get("token_type") or "bearer"),
            issued_at=_time(data["issued_at"]),
            expires_at=_time(data["expires_at"]),
            refresh_token=_maybe(_text, data.get("refresh_token")),
            refresh_token_expires_at=_maybe(
                _time, data.get("refresh_token_expires_at")
            ),
            scope=_maybe(_text, data.get("scope")),
            id_token=_maybe(_text, data.get("id_token")),
            owner_id=_maybe(_text, data.get("owner_id")),
            endpoint_id=_maybe(_text, data.get("endpoint_id")),
            session_id=_maybe(_text, data.get("session_id")),
            session_expires_at=_maybe(_time, data.get("session_expires_at")),
            extra=dict(data.get("extra") or {}),
        )

    def __repr__(self) -> str:
        # Tokens never appear in a repr, a log line or a traceback.
        return (
            f"TokenSet(expires_at={self.expires_at!r}, scope={self.scope!r}, "
            f"refresh_token={'present' if self.refresh_token else 'absent'}, "
            f"id_token={'present' if self.id_token else 'absent'})"
        )


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _time(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a time, got {type(value).__name__}")
    number = float(value)  # OverflowError for an int past float's range
    if not 0 <= number < 1e11:
        raise ValueError("time out of range")
    return number


def _maybe(convert: Callable[[Any], T], value: Any) -> T | None:
    return None if value is None else convert(value)


def _check_token(name: str, value: Any, pattern: re.Pattern[str]) -> None:
    """Refuse a token with characters outside ``pattern``, without quoting it."""
    if not isinstance(value, str):
        reason = f"is {type(value).__name__}, not text"
    elif len(value) > MAX_TOKEN_LENGTH:
        reason = f"is longer than {MAX_TOKEN_LENGTH // 1024} KiB"
    elif not pattern.fullmatch(value):
        reason = "holds characters other than " + (
            "RFC 6750's token characters"
            if pattern is ACCESS_TOKEN
            else "printable ASCII without spaces"
        )
    else:
        return
    raise TokenEndpointError(
        "invalid_response",
        f"the server's {name} {reason} (a control character could inject "
        "headers or terminal commands); nothing was saved",
        hint=_SERVER_HINT,
    )
