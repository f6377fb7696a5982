"""Every query of the auth domain: principals, API keys, and office scope predicates."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, SQLColumnExpression, false, select, true, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.enums import Role
from app.auth.models import ApiKey, Principal, auth_epoch
from app.auth.schemas import normalise_name
from app.grids.models import Office

if TYPE_CHECKING:
    from app.auth.scope import OfficeScope


# ---------------------------------------------------------------- principals
def get_principal(session: Session, principal_id: int) -> Principal | None:
    return session.get(Principal, principal_id)


def get_principal_with_office(
    session: Session, principal_id: int
) -> tuple[Principal, Office | None] | None:
    """The principal and its office in one round trip (every authenticated request)."""
    stmt = (
        select(Principal, Office)
        .outerjoin(Office, Office.id == Principal.office_id)
        .where(Principal.id == principal_id)
    )
    row = session.execute(stmt).first()
    return None if row is None else (row[0], row[1])


def _epoch() -> Any:
    return select(auth_epoch.c.epoch).where(auth_epoch.c.id == 1).scalar_subquery()


def read_epoch(conn: Session | Connection) -> int | None:
    """The authentication epoch (None if its row is missing: then nothing is vouched for)."""
    epoch = conn.execute(select(auth_epoch.c.epoch).where(auth_epoch.c.id == 1)).scalar()
    return None if epoch is None else int(epoch)


def get_principal_for_auth(
    session: Session, principal_id: int
) -> tuple[Principal, str | None, str | None, int | None] | None:
    """The principal with its office's code and path, and the authentication
    epoch they were read at (one statement, so one snapshot), in one round trip.

    Only the two office columns a request's identity needs: the office row
    carries its boundary, which every authenticated request would otherwise load.
    """
    stmt = (
        select(Principal, Office.code, Office.path, _epoch())
        .outerjoin(Office, Office.id == Principal.office_id)
        .where(Principal.id == principal_id)
    )
    row = session.execute(stmt).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


def get_principal_by_name(session: Session, name: str) -> Principal | None:
    """Names are case-insensitive: stored lower-cased, looked up the same way."""
    stmt = select(Principal).where(Principal.name == normalise_name(name))
    return session.scalars(stmt).first()


def name_taken(session: Session, name: str) -> bool:
    return session.scalar(select(Principal.id).where(Principal.name == name)) is not None


def insert_principal(session: Session, principal: Principal) -> bool:
    """Insert under a savepoint; ``False`` if the unique name was taken meanwhile.

    The savepoint keeps the request's transaction usable after the constraint
    fires (PostgreSQL aborts the whole transaction otherwise).
    """
    try:
        with session.begin_nested():
            session.add(principal)
    except IntegrityError:
        return False
    return True


def list_principals(
    session: Session,
    *,
    after_id: int | None,
    limit: int,
    role: Role | None = None,
    office_id: int | None = None,
) -> Sequence[tuple[Principal, str | None]]:
    """A page of principals by ascending id, each with its office code."""
    stmt = (
        select(Principal, Office.code)
        .outerjoin(Office, Office.id == Principal.office_id)
        .order_by(Principal.id)
        .limit(limit)
    )
    if after_id is not None:
        stmt = stmt.where(Principal.id > after_id)
    if role is not None:
        stmt = stmt.where(Principal.role == role.value)
    if office_id is not None:
        stmt = stmt.where(Principal.office_id == office_id)
    return [(p, code) for p, code in session.execute(stmt)]


def staff_of_office(session: Session, office_id: int) -> Sequence[Principal]:
    """Active officers and supervisors attached to exactly this office, by id."""
    stmt = (
        select(Principal)
        .where(Principal.office_id == office_id)
        .where(Principal.role.in_([Role.officer.value, Role.supervisor.value]))
        .where(Principal.active.is_(True))
        .order_by(Principal.id)
    )
    return list(session.scalars(stmt))


def bump_token_version(session: Session, principal_id: int) -> int | None:
    """Atomically increment ``token_version``; the new value, or ``None`` if no such row.

    Done in SQL rather than read-modify-write so two concurrent revocations both count.
    """
    stmt = (
        update(Principal)
        .where(Principal.id == principal_id)
        .values(token_version=Principal.token_version + 1)
        .returning(Principal.token_version)
        .execution_options(synchronize_session="fetch")
    )
    return session.execute(stmt).scalar_one_or_none()


# ---------------------------------------------------------------- offices
def get_office(session: Session, office_id: int) -> Office | None:
    return session.get(Office, office_id)


def get_office_by_code(session: Session, code: str) -> Office | None:
    return session.scalars(select(Office).where(Office.code == code)).first()


def get_office_codes(session: Session, office_ids: Collection[int]) -> dict[int, str]:
    if not office_ids:
        return {}
    rows = session.execute(select(Office.id, Office.code).where(Office.id.in_(office_ids)))
    return {i: c for i, c in rows}


# ---------------------------------------------------------------- office scope
def office_scope_condition(
    scope: OfficeScope, office_id_column: SQLColumnExpression[int] | SQLColumnExpression[int | None]
) -> ColumnElement[bool]:
    """A WHERE clause limiting rows whose ``office_id_column`` lies in ``scope``.

    Apply it to any table with an office id (tickets, reports, …)::

        stmt = select(Ticket).where(office_scope_condition(scope, Ticket.office_id))

    Subtrees become ``office_id IN (SELECT id FROM offices WHERE path LIKE '/1/7/%')``,
    which the ``ix_offices_path`` index serves on PostgreSQL (prefix LIKE) and
    SQLite alike. Rows with a NULL office are visible to admins only.
    """
    if scope.everything:
        return true()
    if scope.office_id is not None:
        return office_id_column == scope.office_id
    if scope.path_prefix is not None:
        in_subtree = Office.path.startswith(scope.path_prefix, autoescape=True)
        subtree = select(Office.id).where(in_subtree)
        return office_id_column.in_(subtree)
    return false()


def office_ids_in_scope(
    session: Session, scope: OfficeScope, *, among: Collection[int] | None = None
) -> list[int]:
    stmt = select(Office.id).where(office_scope_condition(scope, Office.id)).order_by(Office.id)
    if among is not None:
        stmt = stmt.where(Office.id.in_(among))
    return list(session.scalars(stmt))


def office_in_scope(session: Session, scope: OfficeScope, office_id: int) -> bool:
    return bool(office_ids_in_scope(session, scope, among=[office_id]))


# ---------------------------------------------------------------- API keys
def get_api_key(session: Session, key_id: int) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def get_api_key_for_auth(
    session: Session, prefix: str
) -> tuple[ApiKey, Principal, str | None, str | None, int | None] | None:
    """The key with this prefix, its principal, the code and path of the
    principal's office, and the authentication epoch: one round trip."""
    stmt = (
        select(ApiKey, Principal, Office.code, Office.path, _epoch())
        .join(Principal, Principal.id == ApiKey.principal_id)
        .outerjoin(Office, Office.id == Principal.office_id)
        .where(ApiKey.prefix == prefix)
    )
    row = session.execute(stmt).first()
    return None if row is None else (row[0], row[1], row[2], row[3], row[4])


def insert_api_key(session: Session, key: ApiKey) -> bool:
    """Insert under a savepoint; ``False`` on a (vanishingly unlikely) prefix collision."""
    try:
        with session.begin_nested():
            session.add(key)
    except IntegrityError:
        return False
    return True


def list_api_keys(
    session: Session,
    *,
    after_id: int | None,
    limit: int,
    principal_id: int | None = None,
    include_revoked: bool = True,
) -> Sequence[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.id).limit(limit)
    if after_id is not None:
        stmt = stmt.where(ApiKey.id > after_id)
    if principal_id is not None:
        stmt = stmt.where(ApiKey.principal_id == principal_id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(stmt))


def touch_api_key(session: Session, key_id: int, now: datetime, *, older_than: datetime) -> None:
    """Record use, unless it was recorded after ``older_than`` (spares a write a request)."""
    session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .where((ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < older_than))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
