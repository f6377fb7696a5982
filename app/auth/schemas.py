"""Request and response bodies of the auth API.

A principal's ``phone`` and ``password_hash`` appear in no model here except
:class:`Me`, which only ever describes the caller themself.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.auth.enums import Role

NAME_MAX = 100
DISPLAY_NAME_MAX = 200
PASSWORD_MIN = 10
PASSWORD_MAX = 256  # argon2 takes any length; a bound stops multi-megabyte "passwords"
OFFICE_CODE_MAX = 64
RIDER_NAME_PREFIX = "rider-"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@+-]{2,99}$")
_PHONE_SEPARATORS = re.compile(r"[\s().\-]")
# E.164 allows at most 15 digits; the lower bound admits short national numbers.
_PHONE_RE = re.compile(r"^\+?[1-9][0-9]{6,14}$")


def normalise_name(value: str) -> str:
    """Login names are case-insensitive: stored and looked up lower-cased."""
    return value.strip().lower()


def check_staff_name(value: str) -> str:
    name = normalise_name(value)
    if not _NAME_RE.match(name):
        raise ValueError(
            "3–100 characters: letters, digits and . _ @ + -, starting with a letter or digit"
        )
    if name.startswith(RIDER_NAME_PREFIX):
        raise ValueError(f"names starting with {RIDER_NAME_PREFIX!r} are reserved for riders")
    return name


def normalise_phone(value: str) -> str:
    """Accept E.164-ish numbers ("+86 138-0013-8000", "13800138000"); strip separators."""
    compact = _PHONE_SEPARATORS.sub("", value)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not _PHONE_RE.match(compact):
        raise ValueError("a phone number: optional +, then 7–15 digits")
    return compact


StaffName = Annotated[str, StringConstraints(max_length=NAME_MAX), AfterValidator(check_staff_name)]
Phone = Annotated[str, StringConstraints(max_length=32), AfterValidator(normalise_phone)]
OfficeCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=OFFICE_CODE_MAX)
]
DisplayName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=DISPLAY_NAME_MAX)
]
LoginName = Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX)]
LoginPassword = Annotated[str, StringConstraints(min_length=1, max_length=PASSWORD_MAX)]


# ---------------------------------------------------------------- tokens
class PasswordLogin(BaseModel):
    """JSON form of the password grant."""

    model_config = ConfigDict(extra="forbid")

    username: LoginName
    password: LoginPassword


class PasswordGrantForm(BaseModel):
    """OAuth2 password grant (RFC 6749 §4.3), form-encoded. ``scope`` and client
    credentials are accepted for OAuth2 clients' sake and ignored."""

    model_config = ConfigDict(extra="forbid")

    grant_type: Literal["password"]
    username: LoginName
    password: LoginPassword
    scope: Annotated[str, StringConstraints(max_length=1000)] = ""
    client_id: Annotated[str | None, StringConstraints(max_length=200)] = None
    client_secret: Annotated[str | None, StringConstraints(max_length=200)] = None


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the token expires.")
    role: Role
    principal_id: int


# ---------------------------------------------------------------- riders
class RiderRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: DisplayName | None = None
    phone: Phone | None = Field(
        default=None,
        description="Optional; only the rider themself ever sees it again.",
        examples=["+8613800138000"],
    )


class RiderRegistered(BaseModel):
    rider_id: int
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int


# ---------------------------------------------------------------- principals
class Principal(BaseModel):
    """A principal as anyone may see it: never a phone number or a password hash."""

    id: int
    name: str
    display_name: str | None
    role: Role
    office_id: int | None
    office_code: str | None


class Me(Principal):
    """The caller themself; riders see the phone number they registered."""

    phone: str | None = None
    auth_method: Literal["token", "api_key"]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StaffName = Field(examples=["li.wei"])
    password: Annotated[str, StringConstraints(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)]
    role: Literal[Role.officer, Role.supervisor, Role.viewer, Role.admin]
    office_code: OfficeCode | None = Field(
        default=None, description="Required for officer, supervisor and viewer; none for admin."
    )
    display_name: DisplayName | None = None


# ---------------------------------------------------------------- API keys
class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    principal_id: int = Field(ge=1)
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ApiKey(BaseModel):
    id: int
    principal_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKey):
    key: str = Field(description="The full key. Shown this once; only a hash is kept.")
