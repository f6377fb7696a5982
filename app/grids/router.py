"""Grid offices: lookup by point, browse the hierarchy, import boundaries."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

import numpy as np
import shapely
from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from starlette.concurrency import run_in_threadpool

from app.auth.actor import Actor
from app.auth.dependencies import AdminPrincipal, CurrentPrincipal, StaffPrincipal, require_roles
from app.auth.enums import Role
from app.auth.scope import scope_filter
from app.core.db import DbSession
from app.core.errors import Forbidden, InvalidInput, PayloadTooLarge, problem_responses
from app.core.geo import CRS
from app.core.pagination import MAX_PAGE_SIZE, Page, decode_cursor, encode_cursor
from app.grids import repository, service
from app.grids.dependencies import GridRouterDep, OfficeByCode
from app.grids.exceptions import OfficeNotFound
from app.grids.importer import ImportOptions
from app.grids.models import Office
from app.grids.schemas import (
    BoundaryCollection,
    FeatureProblemOut,
    ImportReportOut,
    LookupOut,
    OfficeOut,
    OfficeRef,
    PointOut,
    StaffOut,
)

router = APIRouter(prefix="/grids", tags=["grids"])

_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid credentials"},
    422: {"description": "Invalid parameter; the problem body names it"},
}
MAX_IMPORT_BYTES = 50 * 1024 * 1024


def _office_out(office: Office, *, children: int = 0, boundary: bool = False) -> OfficeOut:
    bbox = None
    if office.min_lon is not None:
        bbox = [office.min_lon, office.min_lat, office.max_lon, office.max_lat]
    geo = shapely.geometry.mapping(office.boundary) if boundary and office.boundary else None
    return OfficeOut(
        id=office.id,
        code=office.code,
        name=office.name,
        level=office.level,
        depth=office.depth,
        parent_id=office.parent_id,
        bbox=bbox,
        area_m2=office.area_m2,
        active=office.active,
        children=children,
        boundary=_plain(geo),
    )


def _plain(geo: Any) -> Any:
    # shapely's mapping() returns nested tuples; JSON wants lists.
    return json.loads(json.dumps(geo)) if geo is not None else None


@router.get(
    "/lookup",
    response_model=LookupOut,
    responses={
        **_AUTH_ERRORS,
        422: {"description": "Bad coordinates, or outside the service area"},
    },
)
def lookup(
    session: DbSession,
    grid_router: GridRouterDep,
    _principal: CurrentPrincipal,
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude")],
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude")],
    crs: Annotated[CRS, Query(description="Datum of lat/lon")] = CRS.wgs84,
) -> LookupOut:
    """The grid office that owns a point, its ancestors and why it was chosen."""
    found = grid_router.route(session, lat, lon, crs)
    return LookupOut(
        office=OfficeRef.model_validate(found.office),
        ancestors=[OfficeRef.model_validate(o) for o in found.ancestors],
        reason=found.decision.reason,
        distance_m=round(found.decision.distance_m, 2),
        alternatives=[OfficeRef.model_validate(o) for o in found.alternatives],
        point=PointOut(lat=found.lat, lon=found.lon),
    )


# --- boundaries for maps (before "/{code}", which would otherwise swallow the path) ------

MapReader = Annotated[
    Actor, Depends(require_roles(Role.viewer, Role.officer, Role.supervisor, Role.admin))
]
MAX_BOUNDARIES = 2000
M_PER_DEG_LAT = 111_320.0
# Coordinates are snapped to 1e-6° (about 0.1 m): far below any tolerance, and it
# keeps the payload free of 17-digit floats.
GRID_DEG = 1e-6
BOUNDARIES_MAX_AGE_S = 60
_BOUNDARY_DEFS = "boundaries-1"  # bump when the output changes for the same data


def _selection(
    session: DbSession, actor: Actor, parent: str | None, level: str | None
) -> repository.BoundarySelection:
    scope = scope_filter(actor)
    if scope.nothing:
        raise Forbidden("your account has no office, so no boundaries are in your scope")
    office = repository.get_by_code(session, parent) if parent is not None else None
    if parent is not None and (office is None or not scope.allows(office.id, office.path)):
        raise InvalidInput(
            f"no office {parent!r} in your scope",
            errors=[{"field": "parent", "reason": "unknown or out of scope"}],
        )
    if scope.office_id is not None:  # an officer: their own office, nothing below it
        return repository.BoundarySelection(office_id=scope.office_id, level=level)
    if office is not None:
        return repository.BoundarySelection(
            parent_id=office.id, under_path=office.path, level=level
        )
    if scope.everything:
        return repository.BoundarySelection(level=level)
    return repository.BoundarySelection(
        parent_id=actor.office_id, under_path=actor.office_path, level=level
    )


def _polygons(shape: BaseGeometry) -> list[Polygon]:
    if isinstance(shape, Polygon):
        return [] if shape.is_empty else [shape]
    return [p for part in getattr(shape, "geoms", ()) for p in _polygons(part)]


def _rfc7946(shape: BaseGeometry) -> BaseGeometry:
    """Snapped to the output grid, valid, exterior rings counter-clockwise, a MultiPolygon."""
    shape = shapely.set_precision(shape, GRID_DEG)  # snap-rounding keeps it valid
    if not shape.is_valid:
        shape = shapely.make_valid(shape)
    out = MultiPolygon([orient(p, 1.0) for p in _polygons(shape)])
    # np.round gives the double nearest the 6-decimal value, which prints short.
    return shapely.transform(out, lambda c: np.round(c, 6))


def _boundaries_etag(request: Request, actor: Actor, state: tuple[int, int, int, str]) -> str:
    query = sorted(request.query_params.multi_items())
    raw = f"{_BOUNDARY_DEFS}|{query}|{actor.role.value}:{actor.office_id}|{state}"
    return 'W/"' + hashlib.blake2b(raw.encode(), digest_size=12).hexdigest() + '"'


def _matches(header: str | None, tag: str) -> bool:
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or tag.removeprefix("W/") in tags


@router.get(
    "/boundaries",
    response_model=BoundaryCollection,
    responses={
        200: {"content": {"application/geo+json": {}}},
        304: {"description": "Nothing changed since the ETag in If-None-Match"},
        **problem_responses(401, 403, 422),
    },
)
def boundaries(
    request: Request,
    session: DbSession,
    actor: MapReader,
    parent: Annotated[
        str | None,
        Query(max_length=64, description="Office code (default: the top of your scope)"),
    ] = None,
    level: Annotated[
        str | None,
        Query(max_length=32, description="Offices of this level in the parent's subtree"),
    ] = None,
    tolerance_m: Annotated[
        float,
        Query(ge=0, le=2000, description="Simplification tolerance in metres (0: none)"),
    ] = 20,
) -> Response:
    """Office boundaries for a map: the children of ``parent`` (or offices of ``level``
    below it), simplified, as an RFC 7946 FeatureCollection. An officer gets their own
    office."""
    sel = _selection(session, actor, parent, level)
    state = repository.boundaries_state(session, sel)
    if state[0] > MAX_BOUNDARIES:
        raise InvalidInput(
            f"more than {MAX_BOUNDARIES} offices; narrow the map with parent or level",
            errors=[{"field": "level" if level else "parent", "reason": "too many offices"}],
        )
    tag = _boundaries_etag(request, actor, state)
    headers = {
        "ETag": tag,
        "Cache-Control": f"private, max-age={BOUNDARIES_MAX_AGE_S}",
        "Vary": "Authorization, X-API-Key",
    }
    if _matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    rows = repository.boundaries(session, sel, tolerance_m / M_PER_DEG_LAT, MAX_BOUNDARIES)
    shapes = [_rfc7946(r.geometry) for r in rows]
    features = []
    for r, shape in zip(rows, shapes, strict=True):
        props = {"code": r.code, "name": r.name, "level": r.level, "parent": r.parent_code}
        features.append(
            f'{{"type":"Feature","id":{json.dumps(r.code)},'
            f'"geometry":{shapely.to_geojson(shape)},"properties":{json.dumps(props)}}}'
        )
    present = [s for s in shapes if not s.is_empty]
    bbox = [round(float(v), 6) for v in shapely.total_bounds(present)] if present else None
    # Geometry JSON comes straight from GEOS: building dicts to re-encode them costs more.
    body = (
        f'{{"type":"FeatureCollection","bbox":{json.dumps(bbox)},'
        f'"tolerance_m":{json.dumps(tolerance_m)},"features":[{",".join(features)}]}}'
    )
    return Response(body, media_type="application/geo+json", headers=headers)


@router.get("", response_model=Page[OfficeOut], responses=_AUTH_ERRORS)
def list_offices(
    session: DbSession,
    _principal: CurrentPrincipal,
    parent: Annotated[str | None, Query(max_length=64, description="Children of this code")] = None,
    roots: Annotated[bool, Query(description="Only offices without a parent")] = False,
    level: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
) -> Page[OfficeOut]:
    """Grid offices, ordered by id, optionally the children of one office."""
    parent_id = None
    if parent is not None:
        parent_office = repository.get_by_code(session, parent)
        if parent_office is None:
            raise InvalidInput(
                f"no office with code {parent!r}",
                errors=[{"field": "parent", "reason": "unknown office code"}],
            )
        parent_id = parent_office.id
    key = decode_cursor(cursor, kind="offices")
    rows = repository.list_offices(
        session,
        parent_id=parent_id,
        roots_only=roots,
        level=level,
        after_id=int(key["id"]) if key else None,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    kids = repository.count_children(session, [o.id for o in rows])
    nxt = encode_cursor({"k": "offices", "id": rows[-1].id}) if more and rows else None
    return Page(items=[_office_out(o, children=kids.get(o.id, 0)) for o in rows], next_cursor=nxt)


@router.get("/{code}", response_model=OfficeOut, responses={**_AUTH_ERRORS, 404: {}})
def get_office(
    session: DbSession,
    _principal: CurrentPrincipal,
    office: OfficeByCode,
    boundary: Annotated[bool, Query(description="Include the boundary as GeoJSON")] = False,
) -> OfficeOut:
    """One grid office, optionally with its boundary."""
    kids = repository.count_children(session, [office.id])
    return _office_out(office, children=kids.get(office.id, 0), boundary=boundary)


@router.get(
    "/{code}/ancestors", response_model=list[OfficeRef], responses={**_AUTH_ERRORS, 404: {}}
)
def get_ancestors(session: DbSession, _principal: CurrentPrincipal, office: OfficeByCode) -> Any:
    """The chain of offices above one office, from the root down."""
    return [OfficeRef.model_validate(o) for o in repository.ancestors(session, office)]


@router.get(
    "/{code}/staff",
    response_model=list[StaffOut],
    responses={**_AUTH_ERRORS, 403: {"description": "Role may not list staff"}, 404: {}},
)
def get_staff(
    session: DbSession,
    principal: StaffPrincipal,
    office: OfficeByCode,
) -> Any:
    """Officers and supervisors of an office; visible to its own staff and those above it."""
    if not scope_filter(principal).allows(office.id, office.path):
        # Out of scope looks the same as absent: ids of other offices leak nothing.
        raise OfficeNotFound(f"no office with code {office.code!r}")
    return [StaffOut.model_validate(p) for p in repository.staff_of_office(session, office.id)]


@router.post(
    "/import",
    response_model=ImportReportOut,
    responses={
        401: {},
        403: {"description": "Admins only"},
        413: {"description": "File too large"},
        422: {"description": "Not a usable boundary file; the problem body says why"},
    },
)
async def import_grids(
    session: DbSession,
    _admin: AdminPrincipal,
    file: Annotated[UploadFile, File(description="GeoJSON FeatureCollection or array of Features")],
    crs: Annotated[CRS, Form(description="Datum of the file's coordinates")] = CRS.wgs84,
    code_property: Annotated[str, Form(max_length=100)] = "code",
    name_property: Annotated[str, Form(max_length=100)] = "name",
    parent_property: Annotated[str | None, Form(max_length=100)] = None,
    parent_code: Annotated[str | None, Form(max_length=64)] = None,
    level: Annotated[str | None, Form(max_length=32)] = None,
    level_property: Annotated[str | None, Form(max_length=100)] = None,
    repair: Annotated[bool, Form()] = True,
    dry_run: Annotated[bool, Form()] = False,
) -> Any:
    """Create or update offices from a boundary file; each feature is accepted or rejected."""
    raw = await file.read(MAX_IMPORT_BYTES + 1)
    if len(raw) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(f"boundary files are limited to {MAX_IMPORT_BYTES // 2**20} MiB")
    options = ImportOptions(
        crs=crs,
        code_property=code_property,
        name_property=name_property,
        parent_property=parent_property or None,
        parent_code=parent_code or None,
        level=level or None,
        level_property=level_property or None,
        repair=repair,
    )
    if options.parent_code and repository.get_by_code(session, options.parent_code) is None:
        raise InvalidInput(
            f"no office with code {options.parent_code!r}",
            errors=[{"field": "parent_code", "reason": "unknown office code"}],
        )
    report = await run_in_threadpool(
        service.import_boundaries, session, raw, options, dry_run=dry_run
    )
    if dry_run:
        session.rollback()
    return ImportReportOut(
        created=report.created,
        updated=report.updated,
        repaired=report.repaired,
        rejected=[
            FeatureProblemOut(index=p.index, code=p.code, reason=p.reason) for p in report.rejected
        ],
        dry_run=dry_run,
    )
