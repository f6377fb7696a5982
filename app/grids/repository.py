"""SQL for grid offices."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.enums import Role
from app.auth.models import Principal
from app.grids.models import Office


def get_by_code(session: Session, code: str) -> Office | None:
    return session.scalar(select(Office).where(Office.code == code))


def get_by_codes(session: Session, codes: Sequence[str]) -> dict[str, Office]:
    if not codes:
        return {}
    rows = session.scalars(select(Office).where(Office.code.in_(list(codes))))
    return {o.code: o for o in rows}


def get_many(session: Session, ids: Sequence[int]) -> list[Office]:
    if not ids:
        return []
    return list(session.scalars(select(Office).where(Office.id.in_(list(ids)))))


def ancestors(session: Session, office: Office) -> list[Office]:
    """Ancestors from the root down, excluding ``office`` itself."""
    ids = [int(p) for p in office.path.strip("/").split("/") if p and int(p) != office.id]
    by_id = {o.id: o for o in get_many(session, ids)}
    return [by_id[i] for i in ids if i in by_id]


def list_offices(
    session: Session,
    *,
    parent_id: int | None = None,
    roots_only: bool = False,
    level: str | None = None,
    under_path: str | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[Office]:
    stmt = select(Office).order_by(Office.id).limit(limit)
    if parent_id is not None:
        stmt = stmt.where(Office.parent_id == parent_id)
    elif roots_only:
        stmt = stmt.where(Office.parent_id.is_(None))
    if level is not None:
        stmt = stmt.where(Office.level == level)
    if under_path is not None:
        stmt = stmt.where(Office.path.startswith(under_path, autoescape=True))
    if after_id is not None:
        stmt = stmt.where(Office.id > after_id)
    return list(session.scalars(stmt))


def count_children(session: Session, office_ids: Sequence[int]) -> dict[int, int]:
    if not office_ids:
        return {}
    rows = session.execute(
        select(Office.parent_id, func.count())
        .where(Office.parent_id.in_(list(office_ids)))
        .group_by(Office.parent_id)
    )
    return {int(pid): int(n) for pid, n in rows}


def all_links(session: Session) -> list[tuple[int, int | None, int, str]]:
    """(id, parent_id, depth, path) of every office, for re-deriving the hierarchy."""
    rows = session.execute(select(Office.id, Office.parent_id, Office.depth, Office.path))
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def set_links(session: Session, updates: dict[int, tuple[int, str]]) -> None:
    """Write new (depth, path) pairs; only rows that changed are given."""
    for office_id, (depth, path) in updates.items():
        session.execute(
            Office.__table__.update()
            .where(Office.__table__.c.id == office_id)
            .values(depth=depth, path=path)
        )


def staff_of_office(session: Session, office_id: int) -> list[Principal]:
    """Active officers and supervisors attached to one office."""
    stmt = (
        select(Principal)
        .where(
            Principal.office_id == office_id,
            Principal.active.is_(True),
            Principal.role.in_([Role.officer, Role.supervisor]),
        )
        .order_by(Principal.name)
    )
    return list(session.scalars(stmt))
