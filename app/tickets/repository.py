"""SQL for tickets."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, delete, or_, select, text
from sqlalchemy.orm import Session

from app.core.geo import haversine_m, metres_to_degrees
from app.tickets.models import Ticket, TicketCandidate, TicketEvent


@dataclass(frozen=True, slots=True)
class NearbyHit:
    ticket_id: int
    distance_m: float


_PG_NEAR = text(
    """
    SELECT t.id, ST_Distance(t.location::geography,
                             ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, false) AS d
    FROM tickets t
    WHERE ST_DWithin(t.location, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :deg)
      AND t.status IN :statuses
    """
)

_SQLITE_NEAR = text(
    """
    SELECT t.id, t.lon, t.lat FROM ticket_rtree r JOIN tickets t ON t.id = r.id
    WHERE r.min_lon <= :lon + :dlon AND r.max_lon >= :lon - :dlon
      AND r.min_lat <= :lat + :dlat AND r.max_lat >= :lat - :dlat
      AND t.status IN :statuses
    """
)


def tickets_near(
    session: Session,
    lon: float,
    lat: float,
    radius_m: float,
    statuses: Collection[str],
    *,
    category_id: int | None = None,
    limit: int = 50,
) -> list[NearbyHit]:
    """Tickets in ``statuses`` within ``radius_m`` of a WGS-84 point, nearest first."""
    dlon, dlat = metres_to_degrees(radius_m, lat)
    dlon, dlat = dlon * 1.01, dlat * 1.01
    if session.get_bind().dialect.name == "postgresql":
        stmt = _PG_NEAR.bindparams(bindparam("statuses", expanding=True))
        rows = session.execute(
            stmt, {"lon": lon, "lat": lat, "deg": dlon, "statuses": list(statuses)}
        ).all()
        hits = [NearbyHit(int(r[0]), float(r[1])) for r in rows]
    else:
        stmt = _SQLITE_NEAR.bindparams(bindparam("statuses", expanding=True))
        rows = session.execute(
            stmt,
            {"lon": lon, "lat": lat, "dlon": dlon, "dlat": dlat, "statuses": list(statuses)},
        ).all()
        hits = [NearbyHit(int(r[0]), haversine_m(lon, lat, r[1], r[2])) for r in rows]
    hits = [h for h in hits if h.distance_m <= radius_m and math.isfinite(h.distance_m)]
    if category_id is not None and hits:
        keep = set(
            session.scalars(
                select(Ticket.id).where(
                    Ticket.id.in_([h.ticket_id for h in hits]), Ticket.category_id == category_id
                )
            )
        )
        hits = [h for h in hits if h.ticket_id in keep]
    hits.sort(key=lambda h: (h.distance_m, h.ticket_id))
    return hits[:limit]


def for_reports(session: Session, report_ids: Collection[int]) -> dict[int, Ticket]:
    if not report_ids:
        return {}
    rows = session.scalars(select(Ticket).where(Ticket.report_id.in_(list(report_ids))))
    return {t.report_id: t for t in rows}


def get_many(session: Session, ids: Collection[int]) -> list[Ticket]:
    if not ids:
        return []
    return list(session.scalars(select(Ticket).where(Ticket.id.in_(list(ids)))))


def get(session: Session, ticket_id: int) -> Ticket | None:
    return session.get(Ticket, ticket_id)


def get_for_update(session: Session, ticket_id: int) -> Ticket | None:
    """Load a ticket to change it; on PostgreSQL the row stays locked until commit."""
    return session.scalar(
        select(Ticket)
        .where(Ticket.id == ticket_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def candidate_ids(session: Session, ticket_id: int) -> list[int]:
    return list(
        session.scalars(
            select(TicketCandidate.office_id).where(TicketCandidate.ticket_id == ticket_id)
        )
    )


def clear_candidates(session: Session, ticket_id: int) -> None:
    session.execute(delete(TicketCandidate).where(TicketCandidate.ticket_id == ticket_id))


def events(
    session: Session, ticket_id: int, *, after_id: int | None = None, limit: int = 500
) -> list[TicketEvent]:
    stmt = (
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket_id)
        .order_by(TicketEvent.id)
        .limit(limit)
    )
    if after_id is not None:
        stmt = stmt.where(TicketEvent.id > after_id)
    return list(session.scalars(stmt))


@dataclass(frozen=True, slots=True)
class QueueFilter:
    scope: Any  # app.auth.scope.OfficeScope
    statuses: tuple[str, ...] = ()
    category_ids: tuple[int, ...] = ()
    office_path: str | None = None  # this office and everything below it
    overdue: bool | None = None
    needs_attention: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None  # min_lon, min_lat, max_lon, max_lat
    now: datetime | None = None


SORTS: dict[str, tuple[tuple[str, bool], ...]] = {
    # name → ((column, descending), …); id last so the order is total.
    "age": (("created_at", False), ("id", False)),
    "-age": (("created_at", True), ("id", True)),
    "priority": (("priority", False), ("due_at", False), ("id", False)),
    "due": (("due_at", False), ("id", False)),
    "updated": (("updated_at", True), ("id", True)),
}


def _filtered(stmt: Select[Any], f: QueueFilter, session: Session) -> Select[Any]:
    from app.auth.repository import office_scope_condition
    from app.grids.models import Office

    stmt = stmt.where(office_scope_condition(f.scope, Ticket.office_id))
    if f.statuses:
        stmt = stmt.where(Ticket.status.in_(f.statuses))
    if f.category_ids:
        stmt = stmt.where(Ticket.category_id.in_(f.category_ids))
    if f.office_path is not None:
        sub = select(Office.id).where(Office.path.startswith(f.office_path, autoescape=True))
        stmt = stmt.where(Ticket.office_id.in_(sub))
    if f.overdue is not None and f.now is not None:
        open_ = Ticket.status.in_(["new", "accepted", "in_progress"])
        late = and_(open_, Ticket.due_at < f.now)
        stmt = stmt.where(late if f.overdue else ~late)
    if f.needs_attention is not None:
        stmt = stmt.where(Ticket.needs_attention.is_(f.needs_attention))
    if f.created_from is not None:
        stmt = stmt.where(Ticket.created_at >= f.created_from)
    if f.created_to is not None:
        stmt = stmt.where(Ticket.created_at < f.created_to)
    if f.bbox is not None:
        min_lon, min_lat, max_lon, max_lat = f.bbox
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.where(
                text(
                    "tickets.location && ST_MakeEnvelope(:bx0, :by0, :bx1, :by1, 4326)"
                ).bindparams(bx0=min_lon, by0=min_lat, bx1=max_lon, by1=max_lat)
            )
        else:
            inside = text(
                "tickets.id IN (SELECT id FROM ticket_rtree WHERE min_lon >= :bx0 AND "
                "max_lon <= :bx1 AND min_lat >= :by0 AND max_lat <= :by1)"
            ).bindparams(bx0=min_lon, by0=min_lat, bx1=max_lon, by1=max_lat)
            stmt = stmt.where(inside)
    return stmt


def queue(
    session: Session, f: QueueFilter, *, sort: str, after: dict[str, Any] | None, limit: int
) -> list[Ticket]:
    """One page of tickets, keyset-paginated on the sort columns."""
    keys = SORTS[sort]
    stmt = _filtered(select(Ticket), f, session)
    if after is not None:
        stmt = stmt.where(_after(keys, after))
    order = [getattr(Ticket, c).desc() if d else getattr(Ticket, c).asc() for c, d in keys]
    return list(session.scalars(stmt.order_by(*order).limit(limit)))


def _after(keys: tuple[tuple[str, bool], ...], after: dict[str, Any]) -> ColumnElement[bool]:
    """Rows strictly after the cursor row in (mixed-direction) lexicographic order."""
    clauses = []
    for i, (col, desc) in enumerate(keys):
        column = getattr(Ticket, col)
        value = after[col]
        eq = [getattr(Ticket, c) == after[c] for c, _ in keys[:i]]
        cmp = column < value if desc else column > value
        clauses.append(and_(*eq, cmp))
    return or_(*clauses)


def claimable(session: Session, office_id: int, *, limit: int) -> list[Ticket]:
    """New border tickets this office may claim (it is a candidate, not the owner)."""
    stmt = (
        select(Ticket)
        .join(TicketCandidate, TicketCandidate.ticket_id == Ticket.id)
        .where(TicketCandidate.office_id == office_id, Ticket.status == "new")
        .order_by(Ticket.created_at, Ticket.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def is_candidate(session: Session, ticket_id: int, office_id: int) -> bool:
    return session.get(TicketCandidate, (ticket_id, office_id)) is not None
