"""Authentication and authorisation failures, rendered by the one problem handler."""

from __future__ import annotations

from typing import Any

from app.core.errors import DomainError, Unauthorized

REALM = "gridfix"


class InvalidCredentials(Unauthorized):
    """Login failed. One message for every cause so a caller cannot probe for names."""

    code = "invalid-credentials"

    def __init__(self) -> None:
        # ``error`` is the OAuth2 (RFC 6749 §5.2) code, for clients that look for it.
        super().__init__("username or password is wrong", error="invalid_grant")


class InvalidToken(Unauthorized):
    """A credential was sent but is unusable: bad signature, expired, revoked, unknown key.

    The ``WWW-Authenticate`` challenge carries RFC 6750's ``invalid_token`` error so
    clients know to obtain a new token rather than retry.
    """

    code = "invalid-token"

    def __init__(self, detail: str, **kw: Any) -> None:
        safe = detail.replace('"', "'")
        kw.setdefault(
            "headers",
            {
                "WWW-Authenticate": (
                    f'Bearer realm="{REALM}", error="invalid_token", error_description="{safe}"'
                )
            },
        )
        super().__init__(detail, **kw)


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported-media-type"
    title = "Unsupported media type"
