"""SQL for tickets."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.core.geo import haversine_m, metres_to_degrees
from app.tickets.models import Ticket


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
    from sqlalchemy import bindparam

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
