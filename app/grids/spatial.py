"""Candidate search for routing: the only place that knows how each backend
indexes boundaries.

* PostGIS: one statement; ``&&`` / ``ST_DWithin`` use the GiST index, and
  ``ST_Distance`` on geography (sphere) gives metres.
* SQLite: the R*Tree gives bbox hits; shapely does the exact cover test and the
  distance on a local equirectangular projection around the point. Parsed,
  prepared boundaries are cached per (office id, version), so a lookup normally
  costs one indexed query.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.core.geo import EARTH_RADIUS_M, metres_to_degrees
from app.grids.models import Office
from app.grids.routing import Candidate

_PG_CANDIDATES = text(
    """
    WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS pt)
    SELECT o.id, o.code, o.name, o.depth, o.path, coalesce(o.area_m2, 0) AS area_m2,
           ST_Covers(o.boundary, p.pt) AS covers,
           CASE WHEN ST_Covers(o.boundary, p.pt) THEN 0.0
                ELSE ST_Distance(o.boundary::geography, p.pt::geography, false) END AS dist
    FROM offices o, p
    WHERE o.active AND o.boundary IS NOT NULL AND ST_DWithin(o.boundary, p.pt, :deg)
    """
)

_SQLITE_CANDIDATES = text(
    """
    SELECT o.id, o.code, o.name, o.depth, o.path, coalesce(o.area_m2, 0), o.version
    FROM office_rtree r JOIN offices o ON o.id = r.id
    WHERE r.min_lon <= :lon + :dlon AND r.max_lon >= :lon - :dlon
      AND r.min_lat <= :lat + :dlat AND r.max_lat >= :lat - :dlat
      AND o.active
    """
)

_M_PER_DEG = math.pi * EARTH_RADIUS_M / 180.0


class BoundaryCache:
    """LRU of parsed, prepared office boundaries keyed by (id, version)."""

    def __init__(self, max_items: int = 50_000) -> None:
        self._items: OrderedDict[int, tuple[int, BaseGeometry]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_items

    def get(self, office_id: int, version: int) -> BaseGeometry | None:
        with self._lock:
            hit = self._items.get(office_id)
            if hit is None or hit[0] != version:
                return None
            self._items.move_to_end(office_id)
            return hit[1]

    def put(self, office_id: int, version: int, geom: BaseGeometry) -> None:
        shapely.prepare(geom)
        with self._lock:
            self._items[office_id] = (version, geom)
            self._items.move_to_end(office_id)
            while len(self._items) > self._max:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def _local_distance_m(geom: BaseGeometry, lon: float, lat: float) -> float:
    """Distance from the point to ``geom`` in metres, on a plane tangent at the point."""
    k_lon = _M_PER_DEG * math.cos(math.radians(lat))

    def project(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        out = np.empty_like(coords)
        out[:, 0] = (coords[:, 0] - lon) * k_lon
        out[:, 1] = (coords[:, 1] - lat) * _M_PER_DEG
        return out

    local = shapely.transform(geom, project)
    return float(shapely.distance(local, shapely.Point(0.0, 0.0)))


def find_candidates(
    session: Session,
    lon: float,
    lat: float,
    radius_m: float,
    cache: BoundaryCache,
) -> list[Candidate]:
    """Offices whose boundary is within ``radius_m`` of (lon, lat), WGS-84."""
    dlon, dlat = metres_to_degrees(radius_m, lat)
    # A little slack: the degree box must contain the metric circle everywhere.
    dlon, dlat = dlon * 1.01 + 1e-9, dlat * 1.01 + 1e-9
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(_PG_CANDIDATES, {"lon": lon, "lat": lat, "deg": dlon}).all()
        return [
            Candidate(
                r.id,
                r.code,
                r.name,
                r.depth,
                r.path,
                float(r.area_m2),
                bool(r.covers),
                float(r.dist),
            )
            for r in rows
            if r.covers or r.dist <= radius_m
        ]
    rows = session.execute(
        _SQLITE_CANDIDATES, {"lon": lon, "lat": lat, "dlon": dlon, "dlat": dlat}
    ).all()
    if not rows:
        return []
    geoms = _load_geometries(session, [(r[0], r[6]) for r in rows], cache)
    point = shapely.Point(lon, lat)
    out = []
    for office_id, code, name, depth, path, area, _version in rows:
        geom = geoms.get(office_id)
        if geom is None:
            continue
        if shapely.covers(geom, point):
            out.append(Candidate(office_id, code, name, depth, path, float(area), True, 0.0))
            continue
        dist = _local_distance_m(geom, lon, lat)
        if dist <= radius_m:
            out.append(Candidate(office_id, code, name, depth, path, float(area), False, dist))
    return out


def _load_geometries(
    session: Session, keys: list[tuple[int, int]], cache: BoundaryCache
) -> dict[int, BaseGeometry]:
    found: dict[int, BaseGeometry] = {}
    missing: list[int] = []
    for office_id, version in keys:
        geom = cache.get(office_id, version)
        if geom is None:
            missing.append(office_id)
        else:
            found[office_id] = geom
    if missing:
        rows = session.execute(
            select(Office.id, Office.version, Office.boundary).where(Office.id.in_(missing))
        )
        for office_id, version, geom in rows:
            if geom is not None:
                cache.put(office_id, version, geom)
                found[office_id] = geom
    return found
