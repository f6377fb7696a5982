"""The authenticated caller of a request, as every other module sees it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.auth.enums import STAFF_ROLES, Role

AuthMethod = Literal["token", "api_key"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is calling, loaded once per request and detached from the session.

    The role and office come from the database, not from the token, so a change
    there applies at the next request. ``office_path`` is the office's
    materialised path ("/1/7/42/"), which makes subtree checks need no query.
    """

    id: int
    name: str
    role: Role
    office_id: int | None
    office_code: str | None
    office_path: str | None
    display_name: str | None = None
    via: AuthMethod = "token"

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles
