"""Rider intake and rider views."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Header, Query, UploadFile
from fastapi.responses import JSONResponse

from app.auth.actor import Actor
from app.auth.dependencies import AppSettings, CurrentPrincipal, require_roles
from app.auth.enums import Role
from app.core import idempotency
from app.core.db import DbSession, utcnow
from app.core.errors import InvalidInput, problem_responses
from app.core.geo import CRS, check_lon_lat, to_wgs84
from app.core.pagination import Page, decode_cursor, encode_cursor
from app.grids.dependencies import GridRouterDep
from app.photos.dependencies import Storage, read_uploaded_files
from app.reports import repository, service, views
from app.reports.dependencies import ReadableReport, SessionFactory, Worker
from app.reports.schemas import NearbyOut, ReportOut
from app.tickets import repository as tickets_repo
from app.tickets.enums import OPEN_STATUSES

router = APIRouter(prefix="/reports", tags=["reports"])

Reporter = Annotated[
    Actor, Depends(require_roles(Role.rider, Role.officer, Role.supervisor, Role.admin))
]


@router.post(
    "",
    status_code=201,
    response_model=ReportOut,
    responses={
        200: {"description": "A replay of the first response to this Idempotency-Key"},
        **problem_responses(401, 403, 409, 413, 415, 422, 429, 503),
    },
)
def create_report(
    session: DbSession,
    actor: Reporter,
    settings: AppSettings,
    storage: Storage,
    grid_router: GridRouterDep,
    worker: Worker,
    session_factory: SessionFactory,
    background: BackgroundTasks,
    category: Annotated[str, Form(max_length=32, description="Category code")],
    photos: Annotated[
        list[UploadFile], File(description="1..N photos (JPEG, PNG, WebP, HEIC)")
    ] = [],  # noqa: B006 - FastAPI copies defaults
    upload_ids: Annotated[
        list[str], Form(description="Ids from POST /v1/uploads, instead of or beside files")
    ] = [],  # noqa: B006
    lat: Annotated[float | None, Form(description="Latitude; omit to use the photo's GPS")] = None,
    lon: Annotated[float | None, Form(description="Longitude")] = None,
    crs: Annotated[CRS, Form(description="Datum of lat/lon")] = CRS.wgs84,
    accuracy_m: Annotated[float | None, Form(ge=0, le=100_000)] = None,
    description: Annotated[str | None, Form(max_length=20_000)] = None,
    captured_at: Annotated[datetime | None, Form(description="ISO 8601 with offset")] = None,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", description="A UUID, resent on every retry")
    ] = None,
) -> JSONResponse:
    """Report a hazard: photos plus a location, routed to its grid office as a ticket."""
    if captured_at is not None and captured_at.tzinfo is None:
        raise InvalidInput(
            "captured_at needs a UTC offset",
            errors=[{"field": "captured_at", "reason": "missing UTC offset"}],
        )
    if len(photos) + len(upload_ids) > settings.max_photos_per_report:
        raise InvalidInput(
            f"at most {settings.max_photos_per_report} photos a report",
            errors=[{"field": "photos", "reason": "too many photos"}],
        )
    req = service.IntakeRequest(
        category=category,
        lat=lat,
        lon=lon,
        crs=crs,
        accuracy_m=accuracy_m,
        description=description,
        captured_at=captured_at,
        photos=read_uploaded_files(photos, settings.max_photo_bytes),
        upload_ids=list(upload_ids),
        idempotency_key=idempotency_key,
    )
    deps = service.IntakeDeps(settings, storage, grid_router, session_factory)
    result = service.submit(session, deps, actor, req, utcnow())
    if result.replayed:
        return JSONResponse(
            result.body, status_code=200, headers={idempotency.REPLAY_HEADER: "true"}
        )
    for photo_id, original in result.derive:
        background.add_task(worker.enqueue, photo_id, original)
    for key in result.cleanup_keys:
        background.add_task(storage.delete, key)
    return JSONResponse(
        result.body, status_code=201, headers={"Location": f"/v1/reports/{result.body['id']}"}
    )


@router.get("/mine", response_model=Page[ReportOut], responses=problem_responses(401, 422))
def my_reports(
    session: DbSession,
    actor: CurrentPrincipal,
    settings: AppSettings,
    storage: Storage,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Page[ReportOut]:
    """The caller's own reports, newest first, with each ticket's current status."""
    key = decode_cursor(cursor, kind="mine")
    rows = repository.mine(
        session, actor.id, before_id=int(key["id"]) if key else None, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = views.reports_out(session, rows, storage, settings, staff=actor.is_staff)
    nxt = encode_cursor({"k": "mine", "id": rows[-1].id}) if more else None
    return Page(items=items, next_cursor=nxt)


@router.get("/nearby", response_model=NearbyOut, responses=problem_responses(401, 422))
def nearby(
    session: DbSession,
    _actor: CurrentPrincipal,
    settings: AppSettings,
    storage: Storage,
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    radius: Annotated[float, Query(gt=0, le=5000, description="Metres")] = 100.0,
    category: Annotated[str | None, Query(max_length=32)] = None,
    crs: Annotated[CRS, Query()] = CRS.wgs84,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> NearbyOut:
    """Open reports near a point, so the app can say "already reported" before submitting."""
    errors = check_lon_lat(lon, lat)
    if errors:
        raise InvalidInput("coordinates are not usable", errors=errors)
    if radius > settings.nearby_max_radius_m:
        raise InvalidInput(
            f"radius is at most {settings.nearby_max_radius_m:g} m",
            errors=[{"field": "radius", "reason": "too large"}],
        )
    category_id = None
    if category is not None:
        category_id = service.category_for(session, category).id
    wlon, wlat = to_wgs84(lon, lat, crs)
    hits = tickets_repo.tickets_near(
        session,
        wlon,
        wlat,
        radius,
        [s.value for s in OPEN_STATUSES],
        category_id=category_id,
        limit=limit,
    )
    return NearbyOut(
        items=views.nearby_out(session, hits, storage, settings),
        radius_m=radius,
        point={"lat": wlat, "lon": wlon},
    )


@router.get("/{report_id}", response_model=ReportOut, responses=problem_responses(401, 404, 422))
def get_report(
    session: DbSession,
    actor: CurrentPrincipal,
    settings: AppSettings,
    storage: Storage,
    report: ReadableReport,
) -> ReportOut:
    """One report (its reporter or staff in scope; anyone else gets 404)."""
    return views.reports_out(session, [report], storage, settings, staff=actor.is_staff)[0]
