"""Point → grid office routing.

The decision is a pure function over *candidates*: offices whose boundary lies
within the routing tolerance of the point, each with whether it covers the point
and its distance in metres. The database (PostGIS GiST, or the SQLite R*Tree
plus an exact shapely test) only finds the candidates; both backends share the
decision, so they route identically.

Rules, in order:
1. Among offices that cover the point, the deepest wins. Ties at that depth (a
   point on a shared edge, or overlapping polygons) go to the smaller area, then
   the lower code: deterministic.
2. If the winner has sub-offices and the point sits in a gap between them, the
   nearest sub-office within the tolerance takes it (a report 40 m outside a
   community grid belongs to that grid, not to the whole district).
3. If nothing covers the point, the nearest office within the tolerance takes
   it (deepest among equally near ones).
4. Otherwise the point is outside the service area.

The reason is ``inside``, ``border`` (another office at the same depth covers
the point or lies within the border margin; those offices are listed as
alternatives so they can claim the ticket) or ``nearest``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class RouteReason(StrEnum):
    inside = "inside"
    border = "border"
    nearest = "nearest"


@dataclass(frozen=True, slots=True)
class Candidate:
    id: int
    code: str
    name: str
    depth: int
    path: str
    area_m2: float
    covers: bool
    distance_m: float


@dataclass(frozen=True, slots=True)
class RouteDecision:
    office: Candidate
    reason: RouteReason
    distance_m: float
    alternatives: tuple[Candidate, ...] = field(default_factory=tuple)


# Offices this much nearer than another count as equally near (metres).
_NEAR_TIE_M = 1.0


def _by_size(c: Candidate) -> tuple[float, str]:
    return (c.area_m2, c.code)


def decide(
    candidates: list[Candidate], *, tolerance_m: float, border_margin_m: float
) -> RouteDecision | None:
    """Pick the office for a point from its candidates, or None when none is near enough."""
    covering = [c for c in candidates if c.covers]
    if covering:
        depth = max(c.depth for c in covering)
        tops = sorted((c for c in covering if c.depth == depth), key=_by_size)
        chosen = tops[0]
        below = [
            c
            for c in candidates
            if not c.covers
            and c.depth > chosen.depth
            and c.path.startswith(chosen.path)
            and c.distance_m <= tolerance_m
        ]
        if below:
            return _nearest(below, candidates, border_margin_m)
        neighbours = [
            c
            for c in candidates
            if c.id != chosen.id and c.depth == depth and c.distance_m <= border_margin_m
        ]
        reason = RouteReason.border if neighbours else RouteReason.inside
        return RouteDecision(chosen, reason, 0.0, tuple(sorted(neighbours, key=_by_size)))
    near = [c for c in candidates if c.distance_m <= tolerance_m]
    if not near:
        return None
    return _nearest(near, candidates, border_margin_m)


def _nearest(
    near: list[Candidate], candidates: list[Candidate], border_margin_m: float
) -> RouteDecision:
    best = min(c.distance_m for c in near)
    ties = [c for c in near if c.distance_m <= best + _NEAR_TIE_M]
    chosen = min(ties, key=lambda c: (-c.depth, c.distance_m, c.area_m2, c.code))
    alternatives = sorted(
        (
            c
            for c in candidates
            if c.id != chosen.id
            and c.depth == chosen.depth
            and c.distance_m <= chosen.distance_m + border_margin_m
        ),
        key=lambda c: (c.distance_m, c.code),
    )
    return RouteDecision(chosen, RouteReason.nearest, chosen.distance_m, tuple(alternatives))
