"""Access tokens: HS256 JWTs, signed with a key derived from ``settings.secret_key``.

Only HS256 is ever accepted (``algorithms=["HS256"]``), which rules out
``alg=none`` and algorithm-confusion tokens. A token names its principal, role,
office and the principal's ``token_version``; the database has the last word on
all of them at each request (see ``service.principal_from_token``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeGuard

import jwt

from app.auth.enums import Role
from app.auth.exceptions import InvalidToken
from app.config import Settings
from app.core.db import utcnow

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "aud", "iss"]
# Tolerated clock difference between the machines that issue and check tokens.
LEEWAY_S = 10
# Anything longer is not a token we issued; refuse before parsing it.
MAX_TOKEN_LEN = 4096


class TokenSubject(Protocol):
    """What a token is issued for; the ORM ``Principal`` fits."""

    @property
    def id(self) -> int: ...
    @property
    def role(self) -> str: ...
    @property
    def office_id(self) -> int | None: ...
    @property
    def token_version(self) -> int: ...


@dataclass(frozen=True, slots=True)
class TokenClaims:
    principal_id: int
    role: Role
    office_id: int | None
    token_version: int
    jti: str
    issued_at: datetime
    expires_at: datetime


def signing_key(settings: Settings) -> bytes:
    """A key used for tokens only, derived from the one application secret.

    Deriving per purpose means a signature made for something else with the same
    secret (a signed storage URL, say) can never pass as a token signature. It
    also yields 32 bytes whatever the secret's length, as RFC 7518 asks for HS256.
    """
    secret = settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, b"gridfix/jwt/v1", hashlib.sha256).digest()


def default_ttl_s(settings: Settings, role: str) -> int:
    return settings.rider_token_ttl_s if role == Role.rider else settings.access_token_ttl_s


def issue_token(
    settings: Settings,
    principal: TokenSubject,
    ttl_s: int | None = None,
    *,
    now: datetime | None = None,
) -> tuple[str, datetime]:
    """Sign a token for ``principal``; return it and its expiry.

    ``ttl_s`` defaults to the rider TTL for riders, the access TTL for everyone else.
    """
    issued = (now or utcnow()).replace(microsecond=0)
    expires = issued + timedelta(seconds=ttl_s or default_ttl_s(settings, principal.role))
    claims: dict[str, Any] = {
        "sub": str(principal.id),
        "role": str(principal.role),
        "office": principal.office_id,
        "tv": principal.token_version,
        "iss": settings.token_issuer,
        "aud": settings.token_audience,
        "iat": issued,
        "exp": expires,
        "jti": secrets.token_urlsafe(12),
    }
    token = jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM)
    return token, expires


def decode_token(settings: Settings, token: str) -> TokenClaims:
    """Verify signature, algorithm, audience, issuer and times; raise ``InvalidToken``."""
    if len(token) > MAX_TOKEN_LEN:
        raise InvalidToken("token is malformed")
    try:
        payload = jwt.decode(
            token,
            signing_key(settings),
            algorithms=[ALGORITHM],
            audience=settings.token_audience,
            issuer=settings.token_issuer,
            leeway=LEEWAY_S,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token has expired") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("token is for another audience") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("token is from another issuer") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"token lacks the {exc.claim!r} claim") from None
    except jwt.InvalidTokenError:
        # Bad signature, wrong or "none" algorithm, garbage: one answer for all.
        raise InvalidToken("token is not valid") from None
    return _claims(payload)


def _claims(payload: dict[str, Any]) -> TokenClaims:
    """Type-check our own claims; a validly signed token with odd ones is still refused."""
    sub, role, office, tv = (payload.get(k) for k in ("sub", "role", "office", "tv"))
    if not (isinstance(sub, str) and sub.isascii() and sub.isdigit() and len(sub) <= 18):
        raise InvalidToken("token is not valid")
    if not (isinstance(role, str) and role in Role.__members__):
        raise InvalidToken("token is not valid")
    if not (_is_int(office) or office is None) or not _is_int(tv):
        raise InvalidToken("token is not valid")
    return TokenClaims(
        principal_id=int(sub),
        role=Role(role),
        office_id=office,
        token_version=tv,
        jti=str(payload.get("jti", "")),
        issued_at=datetime.fromtimestamp(payload["iat"], tz=UTC),
        expires_at=datetime.fromtimestamp(payload["exp"], tz=UTC),
    )


def _is_int(v: object) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)
