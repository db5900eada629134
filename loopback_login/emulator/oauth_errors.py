"""RingCentral's error answers: RFC 6749 §5.2 fields plus ``errors[]`` with an
``errorCode``, at the HTTP status RingCentral uses for that code.

Codes named in RingCentral's guide and community answers (OAU-106/108/109/111/
123/146/150/153, OAU-210 for a dead refresh token, CMN-301 for rate limits) are
used for those cases. Where RingCentral documents no code, OAU-101 ("invalid
parameter") stands in, so a client never sees a code RingCentral doesn't have.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

__all__ = ["OAuthError", "error_body", "json_response"]


class OAuthError(Exception):
    """An error answered as RingCentral's JSON body (never shown in a page)."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        code: str = "OAU-101",
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.code = code
        self.status = status
        self.headers = headers or {}

    def response(self) -> web.Response:
        return json_response(
            error_body(self.error, self.description, self.code),
            status=self.status,
            headers=self.headers,
        )

    # The constructors below name each case once, so handlers read as the spec.

    @classmethod
    def missing(cls, name: str) -> OAuthError:
        return cls("invalid_request", f"Parameter [{name}] is required")

    @classmethod
    def malformed_body(cls) -> OAuthError:
        return cls("invalid_request", "Request body cannot be parsed")

    @classmethod
    def invalid(cls, name: str, error: str = "invalid_request") -> OAuthError:
        return cls(error, f"Parameter [{name}] value is invalid")

    @classmethod
    def duplicated(cls, name: str) -> OAuthError:
        return cls(
            "invalid_request", f"Parameter [{name}] is duplicated", code="OAU-111"
        )

    @classmethod
    def client_auth_required(cls) -> OAuthError:
        return cls(
            "invalid_client",
            "Client authentication is required",
            code="OAU-123",
            status=401,
        )

    @classmethod
    def bad_auth_header(cls, why: str = "Invalid Authorization header") -> OAuthError:
        return cls(
            "invalid_client",
            why,
            code="OAU-123",
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="RingCentral"'},
        )

    @classmethod
    def unknown_client(cls, client_id: str) -> OAuthError:
        return cls(
            "invalid_client", f"Invalid client: {client_id}", code="OAU-153", status=401
        )

    @classmethod
    def bad_credentials(cls, why: str = "Invalid client credentials") -> OAuthError:
        return cls("invalid_client", why, code="OAU-146", status=401)

    @classmethod
    def bad_code(cls, why: str = "Invalid authorization code") -> OAuthError:
        return cls("invalid_grant", why, code="OAU-106", status=403)

    @classmethod
    def expired_code(cls) -> OAuthError:
        return cls(
            "invalid_grant", "Authorization code is expired", code="OAU-108", status=403
        )

    @classmethod
    def redirect_mismatch(cls) -> OAuthError:
        return cls(
            "invalid_grant", "Redirect URIs do not match", code="OAU-109", status=403
        )

    @classmethod
    def bad_verifier(cls, why: str) -> OAuthError:
        return cls("invalid_grant", why)

    @classmethod
    def dead_refresh_token(cls, why: str = "Token not found") -> OAuthError:
        return cls("invalid_grant", why, code="OAU-210")

    @classmethod
    def unsupported_grant(cls, grant_type: str) -> OAuthError:
        return cls("unsupported_grant_type", f"Unsupported grant type: {grant_type}")


def error_body(error: str, description: str, code: str) -> dict[str, Any]:
    """RingCentral's error shape for the token, revoke and authorize endpoints."""
    return {
        "error": error,
        "error_description": description,
        "errors": [{"errorCode": code, "message": description}],
    }


def json_response(
    body: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """JSON that no cache keeps (RFC 6749 §5.1)."""
    response = web.json_response(body, status=status, headers=headers)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
