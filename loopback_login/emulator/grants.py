"""The token endpoint's grants and revocation, on top of :class:`EmulatorState`.

``authorization_code`` (RFC 6749 §4.1.3 with RFC 7636 §4.6), ``refresh_token``
(§6, single-use and rotating as RingCentral's are) and RFC 7009 revocation. The
answers are RingCentral's ``TokenInfo``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from loopback_login.emulator.authorize import PKCE_VALUE
from loopback_login.emulator.config import EmulatorClient
from loopback_login.emulator.oauth_errors import OAuthError
from loopback_login.emulator.state import EmulatorState, Session, new_secret

__all__ = ["exchange_code", "refresh", "revoke"]

ACCESS_TTL_RANGE = (600, 3600)
REFRESH_TTL_RANGE = (600, 2592000)


def exchange_code(
    state: EmulatorState, client: EmulatorClient, form: Mapping[str, str], issuer: str
) -> dict[str, Any]:
    """Redeem an authorization code for a new session's tokens."""
    code = form.get("code") or _raise(OAuthError.missing("code"))
    grant = state.take_code(code)
    if grant is None:
        spent_session = state.session_of_spent_code(code)
        if spent_session is not None:
            # RFC 6749 §4.1.2: a replayed code may mean it was stolen, so the
            # tokens it bought are revoked too.
            state.revoke_session(spent_session)
        raise OAuthError.bad_code()
    if grant.client_id != client.client_id:
        raise OAuthError.bad_code()
    if grant.expires_at <= state.clock():
        raise OAuthError.expired_code()
    sent_uri = form.get("redirect_uri")
    if (grant.redirect_uri_given or sent_uri is not None) and (
        sent_uri != grant.redirect_uri
    ):
        raise OAuthError.redirect_mismatch()
    _check_verifier(
        form.get("code_verifier"), grant.code_challenge, grant.code_challenge_method
    )
    access_ttl, refresh_ttl = _ttls(state, client, form)
    session = state.start_session(
        client_id=client.client_id,
        user=grant.user,
        scope=grant.scope,
        auth_time=grant.auth_time,
        endpoint_id=form.get("endpoint_id"),
    )
    state.issue_tokens(session, access_ttl=access_ttl, refresh_ttl=refresh_ttl)
    state.note_code_session(code, session.session_id)
    return _token_info(state, client, session, issuer, access_ttl, nonce=grant.nonce)


def refresh(
    state: EmulatorState, client: EmulatorClient, form: Mapping[str, str], issuer: str
) -> dict[str, Any]:
    """Spend a refresh token for a new pair; the old pair stops working at once."""
    token = form.get("refresh_token") or _raise(OAuthError.missing("refresh_token"))
    session = state.session_by_refresh(token)
    if session is None or session.client_id != client.client_id:
        raise OAuthError.dead_refresh_token()
    if (session.refresh_expires_at or 0.0) <= state.clock():
        raise OAuthError.dead_refresh_token("Token expired")
    wanted = form.get("scope")
    if wanted is not None:
        if not set(wanted.split()) <= set(session.scope.split()):
            raise OAuthError("invalid_scope", "Requested scope exceeds the granted one")
        session.scope = " ".join(wanted.split())
    access_ttl, refresh_ttl = _ttls(state, client, form)
    state.issue_tokens(session, access_ttl=access_ttl, refresh_ttl=refresh_ttl)
    # OIDC Core §12.2: a refreshed ID token carries no nonce.
    return _token_info(state, client, session, issuer, access_ttl, nonce=None)


def revoke(state: EmulatorState, client: EmulatorClient, token: str) -> None:
    """End the session ``token`` belongs to; unknown tokens are fine (RFC 7009 §2.2)."""
    session = state.session_by_any(token)
    if session is None or token == session.session_id:
        return
    if session.client_id != client.client_id:
        # RFC 7009 §2.1: a client may only revoke its own tokens.
        raise OAuthError("unauthorized_client", "Token was issued to another client")
    state.revoke_session(session.session_id)


def _check_verifier(
    verifier: str | None, challenge: str | None, method: str | None
) -> None:
    if challenge is None:
        if verifier is not None:
            # A verifier with no challenge means the challenge was lost on the way
            # to authorize: refuse, so the client's bug shows (PKCE downgrade).
            raise OAuthError.bad_verifier("Parameter [code_verifier] was not expected")
        return
    if not verifier:
        raise OAuthError.bad_verifier("Parameter [code_verifier] is required")
    if not PKCE_VALUE.fullmatch(verifier):
        raise OAuthError.bad_verifier("Parameter [code_verifier] value is invalid")
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    else:
        computed = verifier
    if not hmac.compare_digest(computed, challenge):
        raise OAuthError.bad_verifier("Code verifier does not match code challenge")


def _ttls(
    state: EmulatorState, client: EmulatorClient, form: Mapping[str, str]
) -> tuple[int, int | None]:
    access = _ttl(
        form, "access_token_ttl", state.config.access_token_ttl, ACCESS_TTL_RANGE
    )
    if not client.issue_refresh_tokens:
        return access, None
    return access, _ttl(
        form, "refresh_token_ttl", state.config.refresh_token_ttl, REFRESH_TTL_RANGE
    )


def _ttl(
    form: Mapping[str, str], name: str, default: int, bounds: tuple[int, int]
) -> int:
    raw = form.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise OAuthError.invalid(name) from None
    if not bounds[0] <= value <= bounds[1]:
        raise OAuthError.invalid(name)
    return value


def _token_info(
    state: EmulatorState,
    client: EmulatorClient,
    session: Session,
    issuer: str,
    access_ttl: int,
    *,
    nonce: str | None,
) -> dict[str, Any]:
    now = state.clock()
    body: dict[str, Any] = {
        "access_token": session.access_token,
        "token_type": "bearer",
        # Shorter than asked when the session's absolute end comes first.
        "expires_in": min(access_ttl, round(session.access_expires_at - now)),
    }
    if session.refresh_token is not None and session.refresh_expires_at is not None:
        body["refresh_token"] = session.refresh_token
        body["refresh_token_expires_in"] = round(session.refresh_expires_at - now)
    scopes = session.scope.split()
    body.update(
        scope=session.scope,
        owner_id=session.user.owner_id,
        endpoint_id=session.endpoint_id,
    )
    if "openid" in scopes:
        body["id_token"] = state.keys.sign(
            _id_claims(state, session, issuer, access_ttl, nonce),
            alg=client.id_token_alg,
            secret=client.client_secret,
        )
    body["session_id"] = session.session_id
    if session.ends_at is not None:
        body["session_expires_in"] = max(0, round(session.ends_at - now))
        body["session_expiration_time"] = _iso_utc(session.ends_at)
    return body


def _iso_utc(epoch: float) -> str:
    """RingCentral's ``session_expiration_time``: ISO 8601 in UTC."""
    stamp = datetime.fromtimestamp(epoch, tz=UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _id_claims(
    state: EmulatorState, session: Session, issuer: str, ttl: int, nonce: str | None
) -> dict[str, Any]:
    now = int(state.clock())
    user, scopes = session.user, session.scope.split()
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": user.owner_id,
        "aud": session.client_id,
        "exp": now + ttl,
        "iat": now,
        "auth_time": session.auth_time,
        "jti": new_secret(),
        "account_id": user.account_id,
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if "email" in scopes:
        claims.update(email=user.email, email_verified=True)
    if "profile" in scopes:
        claims.update(
            given_name=user.given_name,
            family_name=user.family_name,
            name=user.full_name,
        )
    return claims


def _raise(error: OAuthError) -> str:
    raise error
