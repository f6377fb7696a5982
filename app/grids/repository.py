"""SQL for grid offices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, bindparam, func, select
from sqlalchemy.orm import Session, aliased, defer

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


# Offices by id without their boundaries (which can be megabytes, decoded into
# shapely on load): what routing hands on (the office, its ancestors and the
# alternatives) is read for ids, names, levels and paths; a boundary asked for
# still loads. Built once: a prebuilt statement's cache key is memoized on it.
_BY_IDS = (
    select(Office)
    .where(Office.id.in_(bindparam("ids", expanding=True)))
    .options(defer(Office.boundary))
)


def get_many(session: Session, ids: Sequence[int]) -> list[Office]:
    if not ids:
        return []
    return list(session.scalars(_BY_IDS, {"ids": list(ids)}))


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


# --- boundaries for maps ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoundarySelection:
    """Which offices a boundary map shows; exactly one of the first three shapes.

    - ``office_id``: that office alone (an officer's scope);
    - ``parent_id``: its children, or with ``level`` every office of that level
      whose path starts with ``under_path`` (the parent's subtree);
    - neither: the root offices, or with ``level`` every office of that level.
    """

    office_id: int | None = None
    parent_id: int | None = None
    under_path: str | None = None
    level: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = [Office.active.is_(True), Office.boundary.is_not(None)]
        if self.office_id is not None:
            conds.append(Office.id == self.office_id)
        elif self.level is not None:
            if self.under_path is not None:
                conds.append(Office.path.startswith(self.under_path, autoescape=True))
        elif self.parent_id is not None:
            conds.append(Office.parent_id == self.parent_id)
        else:
            conds.append(Office.parent_id.is_(None))
        if self.level is not None:
            conds.append(Office.level == self.level)
        return conds


@dataclass(frozen=True, slots=True)
class BoundaryRow:
    id: int
    code: str
    name: str
    level: str
    parent_code: str | None
    geometry: BaseGeometry


def boundaries_state(session: Session, sel: BoundarySelection) -> tuple[int, int, int, str]:
    """(count, max id, sum of versions, latest update) of the selected offices: what a
    boundary map's ETag rests on, read without touching a geometry."""
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.max(Office.id), 0),
            func.coalesce(func.sum(Office.version), 0),
            func.max(Office.updated_at),
        ).where(*sel.conditions())
    ).one()
    return int(row[0]), int(row[1]), int(row[2]), str(row[3])


def boundaries(
    session: Session, sel: BoundarySelection, tolerance_deg: float, limit: int
) -> list[BoundaryRow]:
    """The selected offices' boundaries, simplified by ``tolerance_deg`` with their
    topology kept (no ring collapses or self-crossings), ordered by code.

    PostGIS simplifies in the database and sends WKB; SQLite stores WKB and shapely
    simplifies the same way (both use GEOS' topology-preserving simplifier).
    """
    parent = aliased(Office)
    postgis = session.get_bind().dialect.name == "postgresql"
    geom: Any = Office.__table__.c.boundary
    if postgis:
        geom = func.ST_AsBinary(func.ST_SimplifyPreserveTopology(geom, tolerance_deg))
    stmt = (
        select(Office.id, Office.code, Office.name, Office.level, parent.code, geom)
        .outerjoin(parent, parent.id == Office.parent_id)
        .where(*sel.conditions())
        .order_by(Office.code)
        .limit(limit)
    )
    out = []
    for r in session.execute(stmt):
        shape = shapely.from_wkb(bytes(r[5])) if postgis else r[5]
        if not postgis and tolerance_deg > 0:
            shape = shapely.simplify(shape, tolerance_deg, preserve_topology=True)
        out.append(BoundaryRow(r[0], r[1], r[2], r[3], r[4], shape))
    return out
