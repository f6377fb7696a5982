"""Grid office use cases: import boundaries, keep the hierarchy, route points."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.orm import Session

from app.core.errors import InvalidInput
from app.core.geo import CRS, check_lon_lat, to_wgs84
from app.grids import repository
from app.grids.exceptions import BoundaryFileInvalid, OutsideServiceArea
from app.grids.importer import (
    FeatureProblem,
    ImportOptions,
    ParsedFeature,
    load_features,
    parse_features,
    spherical_area_m2,
)
from app.grids.models import Office
from app.grids.routing import RouteDecision, decide
from app.grids.spatial import BoundaryCache, find_candidates


@dataclass(slots=True)
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    rejected: list[FeatureProblem] = field(default_factory=list)
    dry_run: bool = False


def import_boundaries(
    session: Session,
    raw: bytes | str,
    options: ImportOptions,
    *,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Create or update one office per feature (matched by code); flushes, never commits."""
    parsed = parse_features(load_features(raw), options)
    report = ImportReport(rejected=list(parsed.rejected), dry_run=dry_run)
    parent_codes = {f.parent_code for f in parsed.features if f.parent_code}
    existing = repository.get_by_codes(
        session, sorted({f.code for f in parsed.features} | parent_codes)
    )

    # A feature whose parent is neither stored nor importable is rejected; repeat
    # until stable, since rejecting one can orphan its children in the same file.
    accepted = list(parsed.features)
    while True:
        known = set(existing) | {f.code for f in accepted}
        orphans = [f for f in accepted if f.parent_code and f.parent_code not in known]
        if not orphans:
            break
        for feat in orphans:
            report.rejected.append(
                FeatureProblem(
                    feat.index, feat.code, f"parent office {feat.parent_code!r} not found"
                )
            )
        accepted = [f for f in accepted if f not in orphans]

    total = len(accepted)
    offices: dict[str, Office] = dict(existing)
    for n, feat in enumerate(accepted, 1):
        office = offices.get(feat.code)
        if office is None:
            office = Office(code=feat.code, path="/", depth=0, version=1)
            session.add(office)
            offices[feat.code] = office
            report.created.append(feat.code)
        else:
            office.version = (office.version or 0) + 1
            report.updated.append(feat.code)
        _apply(office, feat)
        if feat.repaired:
            report.repaired.append(feat.code)
        if progress:
            progress(n, total)
    session.flush()
    for feat in accepted:
        office = offices[feat.code]
        office.parent_id = offices[feat.parent_code].id if feat.parent_code else office.parent_id
    session.flush()
    rebuild_hierarchy(session)
    report.rejected.sort(key=lambda p: p.index)
    return report


def _apply(office: Office, feat: ParsedFeature) -> None:
    minx, miny, maxx, maxy = feat.boundary.bounds
    office.name = feat.name
    office.level = feat.level or office.level or "grid"
    office.boundary = feat.boundary
    office.min_lon, office.min_lat, office.max_lon, office.max_lat = minx, miny, maxx, maxy
    office.area_m2 = spherical_area_m2(feat.boundary)
    office.properties = feat.properties
    office.active = True


def rebuild_hierarchy(session: Session) -> int:
    """Re-derive depth and materialised path of every office; returns rows changed.

    Raises BoundaryFileInvalid on a parent cycle, so the transaction rolls back.
    """
    links = repository.all_links(session)
    children: dict[int | None, list[int]] = {}
    current = {}
    for office_id, parent_id, depth, path in links:
        children.setdefault(parent_id, []).append(office_id)
        current[office_id] = (depth, path)
    updates: dict[int, tuple[int, str]] = {}
    seen: set[int] = set()
    stack: list[tuple[int, int, str]] = [(r, 0, f"/{r}/") for r in children.get(None, [])]
    while stack:
        office_id, depth, path = stack.pop()
        seen.add(office_id)
        if current[office_id] != (depth, path):
            updates[office_id] = (depth, path)
        for child in children.get(office_id, []):
            stack.append((child, depth + 1, f"{path}{child}/"))
    if len(seen) != len(current):
        raise BoundaryFileInvalid("office parents form a cycle; nothing was imported")
    repository.set_links(session, updates)
    session.expire_all()
    return len(updates)


@dataclass(frozen=True, slots=True)
class Lookup:
    decision: RouteDecision
    office: Office
    ancestors: list[Office]
    alternatives: list[Office]
    lon: float
    lat: float


class GridRouter:
    """Routes points to offices. Built once in the lifespan; holds the boundary cache."""

    def __init__(self, *, tolerance_m: float, border_margin_m: float) -> None:
        self.tolerance_m = tolerance_m
        self.border_margin_m = border_margin_m
        self.cache = BoundaryCache()

    def decide(self, session: Session, lon: float, lat: float) -> RouteDecision | None:
        """The routing decision for a WGS-84 point, or None when outside the service area."""
        radius = max(self.tolerance_m, self.border_margin_m)
        candidates = find_candidates(session, lon, lat, radius, self.cache)
        return decide(
            candidates, tolerance_m=self.tolerance_m, border_margin_m=self.border_margin_m
        )

    def route(self, session: Session, lat: float, lon: float, crs: CRS = CRS.wgs84) -> Lookup:
        """Route a point given in ``crs``; raises OutsideServiceArea or InvalidInput."""
        errors = check_lon_lat(lon, lat)
        if errors:
            raise InvalidInput("coordinates are not usable", errors=errors)
        wlon, wlat = to_wgs84(lon, lat, crs)
        decision = self.decide(session, wlon, wlat)
        if decision is None:
            raise OutsideServiceArea(
                f"no grid office covers ({lat:.6f}, {lon:.6f}) {crs.value} or lies within "
                f"{self.tolerance_m:g} m of it",
                lat=lat,
                lon=lon,
                crs=crs.value,
            )
        ids = [decision.office.id, *(a.id for a in decision.alternatives)]
        by_id = {o.id: o for o in repository.get_many(session, ids)}
        office = by_id[decision.office.id]
        return Lookup(
            decision=decision,
            office=office,
            ancestors=repository.ancestors(session, office),
            alternatives=[by_id[a.id] for a in decision.alternatives if a.id in by_id],
            lon=wlon,
            lat=wlat,
        )


class _Scope(Protocol):
    def allows(self, office_id: int, office_path: str) -> bool: ...


def office_path_in_scope(session: Session, scope: _Scope, code: str) -> str:
    """The path of the office with ``code``, when ``scope`` covers it; else a 422
    naming the ``office`` field (an office out of scope reads as unknown)."""
    o = repository.get_by_code(session, code)
    if o is None or not scope.allows(o.id, o.path):
        raise InvalidInput(
            f"no office {code!r} in your scope",
            errors=[{"field": "office", "reason": "unknown or out of scope"}],
        )
    return o.path
