"""Minimal rows for tests of any domain: offices, principals, tokens, API keys.

They insert directly (bypassing the services' rules) and flush, never commit:
commit the session yourself before calling the API.
"""

from __future__ import annotations

from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from app.auth.enums import Role
from app.auth.models import ApiKey, Principal
from app.auth.schemas import normalise_name
from app.auth.security import generate_api_key, hash_password
from app.auth.tokens import issue_token
from app.config import Settings
from app.grids.models import Office


def make_office(
    session: Session,
    code: str,
    name: str = "Test office",
    parent: Office | None = None,
    boundary: BaseGeometry | None = None,
    *,
    level: str = "grid",
) -> Office:
    """An office under ``parent`` (or a root), with ``depth`` and ``path`` filled in.

    A Polygon boundary is stored as a MultiPolygon (the column's type), with its bbox.
    """
    if isinstance(boundary, Polygon):
        boundary = MultiPolygon([boundary])
    office = Office(
        code=code,
        name=name,
        level=level,
        parent_id=parent.id if parent else None,
        depth=parent.depth + 1 if parent else 0,
        path="/",  # replaced below, once the id is known
        boundary=boundary,
        active=True,
        properties={},
        version=1,
    )
    if boundary is not None:
        office.min_lon, office.min_lat, office.max_lon, office.max_lat = boundary.bounds
    session.add(office)
    session.flush()
    office.path = f"{parent.path if parent else '/'}{office.id}/"
    session.flush()
    return office


def make_principal(
    session: Session,
    name: str,
    role: Role | str,
    office: Office | None = None,
    password: str | None = None,
    *,
    display_name: str | None = None,
    phone: str | None = None,
    active: bool = True,
) -> Principal:
    """A principal as given (no role/office rules checked); ``password`` is hashed."""
    principal = Principal(
        name=normalise_name(name),
        display_name=display_name,
        role=Role(role),
        office_id=office.id if office else None,
        password_hash=hash_password(password) if password is not None else None,
        phone=phone,
        active=active,
        token_version=0,
    )
    session.add(principal)
    session.flush()
    return principal


def make_api_key(session: Session, principal: Principal, name: str = "test key") -> str:
    """Create an API key for ``principal``; return the plaintext key."""
    new = generate_api_key()
    session.add(
        ApiKey(principal_id=principal.id, name=name, prefix=new.prefix, secret_hash=new.secret_hash)
    )
    session.flush()
    return new.plaintext


def token_for(settings: Settings, principal: Principal, ttl_s: int | None = None) -> str:
    token, _ = issue_token(settings, principal, ttl_s)
    return token


def auth_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_key_header(key: str) -> dict[str, str]:
    return {"X-API-Key": key}
