"""Synthetic community grids: a square lattice clipped to a parent boundary.

Used by ``gridfix seed-demo`` (no freely licensed community-grid polygons exist
for Jiangmen) and by the routing benchmark. The cells tile the parent exactly,
so they behave like real grids that share borders.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import shapely
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from app.core.geo import EARTH_RADIUS_M


@dataclass(frozen=True, slots=True)
class Cell:
    row: int
    col: int
    boundary: MultiPolygon


def _as_multi(geom: BaseGeometry) -> MultiPolygon | None:
    polys = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, Polygon) and g.area > 0]
    return MultiPolygon(polys) if polys else None


def lattice_cells(
    parent: BaseGeometry, cell_m: float, *, min_fraction: float = 0.02
) -> Iterator[Cell]:
    """Cells of about ``cell_m`` metres clipped to ``parent``; slivers under
    ``min_fraction`` of a full cell are merged away by skipping them (their area
    stays with the parent office, which routes by the gap rule)."""
    minx, miny, maxx, maxy = parent.bounds
    lat0 = (miny + maxy) / 2
    dlat = math.degrees(cell_m / EARTH_RADIUS_M)
    dlon = dlat / math.cos(math.radians(lat0))
    rows = max(1, math.ceil((maxy - miny) / dlat))
    cols = max(1, math.ceil((maxx - minx) / dlon))
    shapely.prepare(parent)
    full = dlat * dlon
    for r in range(rows):
        for c in range(cols):
            cell = box(
                minx + c * dlon, miny + r * dlat, minx + (c + 1) * dlon, miny + (r + 1) * dlat
            )
            if not parent.intersects(cell):
                continue
            clipped = cell if parent.contains(cell) else shapely.intersection(parent, cell)
            multi = _as_multi(clipped)
            if multi is None or multi.area < full * min_fraction:
                continue
            yield Cell(r, c, multi)


def square_grid(
    origin_lon: float, origin_lat: float, n: int, cell_m: float
) -> Iterator[tuple[int, int, MultiPolygon]]:
    """An n×n lattice of square cells from the south-west corner (benchmarks)."""
    dlat = math.degrees(cell_m / EARTH_RADIUS_M)
    dlon = dlat / math.cos(math.radians(origin_lat))
    for r in range(n):
        for c in range(n):
            x0 = origin_lon + c * dlon
            y0 = origin_lat + r * dlat
            yield r, c, MultiPolygon([box(x0, y0, x0 + dlon, y0 + dlat)])
