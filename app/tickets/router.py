"""Grid officers' REST API: the work queue, ticket detail and history, actions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    File,
    Form,
    Header,
    Path,
    Query,
    Request,
    UploadFile,
)
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic_core import to_json
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.auth.dependencies import AppSettings, CurrentPrincipal, require_roles
from app.auth.enums import Role
from app.auth.scope import OfficeScope, scope_filter
from app.categories import repository as categories_repo
from app.categories.models import Category
from app.core.db import DbSession, end_transaction, single_read, utcnow
from app.core.errors import Forbidden, InvalidInput, NotFound, problem_responses
from app.core.geo import CRS, to_wgs84
from app.core.pagination import decode_cursor, encode_cursor
from app.core.prefer import APPLIED_HEADER, MINIMAL, wants_minimal
from app.grids.dependencies import GridRouterDep
from app.grids.service import office_path_in_scope
from app.photos import service as photos_service
from app.photos.dependencies import Storage, read_uploaded_files
from app.reports.dependencies import SessionFactory, Worker
from app.reports.models import Report
from app.tickets import evidence, hooks, repository, service, views
from app.tickets.dependencies import TicketAccess, TicketInScope, access_for
from app.tickets.enums import Action, TicketStatus
from app.tickets.export import ExportFormat, export_response
from app.tickets.models import TicketEvent
from app.tickets.schemas import ActionBody, EventOut, TicketDetail, TicketOut, TicketPatch
from app.tickets.workflow import actor_kind_for

router = APIRouter(prefix="/tickets", tags=["tickets"])

Staff = Annotated[Actor, Depends(require_roles(Role.officer, Role.supervisor, Role.admin))]
MAX_PAGE = 100


async def _names(request: Request) -> views.NameCache:
    cache: views.NameCache = request.app.state.name_cache
    return cache


Names = Annotated[views.NameCache, Depends(_names)]
IfMatch = Annotated[str | None, Header(alias="If-Match", description="The ticket's ETag, from GET")]
Prefer = Annotated[
    str | None,
    Header(
        alias="Prefer",
        description="return=minimal: answer 204 with the new ETag instead of the ticket",
    ),
]
# Writes answer the ticket, or with Prefer: return=minimal only its new ETag.
_MINIMAL_DOC = {
    204: {
        "description": "Done (Prefer: return=minimal): no body; the ETag header is the new version"
    }
}


def _csv(value: str | None, field: str, allowed: set[str] | None = None) -> tuple[str, ...]:
    if not value:
        return ()
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    if allowed is not None:
        bad = [v for v in items if v not in allowed]
        if bad:
            valid = ", ".join(sorted(allowed))
            raise InvalidInput(
                f"{field}: unknown value(s) {', '.join(bad)}; allowed: {valid}",
                errors=[{"field": field, "reason": "unknown value"}],
            )
    return items


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        parts = [float(p) for p in value.split(",")]
    except ValueError:
        parts = []
    ok = len(parts) == 4 and -180 <= parts[0] < parts[2] <= 180 and -90 <= parts[1] < parts[3] <= 90
    if not ok:
        raise InvalidInput(
            "bbox is min_lon,min_lat,max_lon,max_lat (WGS-84), min below max",
            errors=[{"field": "bbox", "reason": "not a valid bounding box"}],
        )
    return parts[0], parts[1], parts[2], parts[3]


def _resolve_codes(
    session: Session, scope: OfficeScope, office: str | None, category_codes: tuple[str, ...]
) -> tuple[str | None, tuple[int, ...]]:
    """The path of the office asked about (in scope) and the ids of the categories."""
    office_path = None if office is None else office_path_in_scope(session, scope, office)
    cat_ids: tuple[int, ...] = ()
    for code in category_codes:
        c = categories_repo.get_by_code(session, code)
        if c is None:
            raise InvalidInput(
                f"unknown category {code!r}",
                errors=[{"field": "category", "reason": "unknown category"}],
            )
        cat_ids += (c.id,)
    return office_path, cat_ids


@dataclass(frozen=True, slots=True)
class QueueParams:
    """The queue's filters as the query string gives them, checked for form only."""

    statuses: tuple[str, ...]
    category_codes: tuple[str, ...]
    office: str | None
    overdue: bool | None
    needs_attention: bool | None
    created_from: datetime | None
    created_to: datetime | None
    bbox: tuple[float, float, float, float] | None


async def _queue_params(
    status: Annotated[str | None, Query(max_length=200, description="Comma list")] = None,
    category: Annotated[
        str | None, Query(max_length=400, description="Comma list of codes")
    ] = None,
    office: Annotated[
        str | None, Query(max_length=64, description="Office code (and below)")
    ] = None,
    overdue: Annotated[bool | None, Query()] = None,
    needs_attention: Annotated[bool | None, Query()] = None,
    created_from: Annotated[datetime | None, Query()] = None,
    created_to: Annotated[datetime | None, Query()] = None,
    bbox: Annotated[
        str | None, Query(max_length=100, description="min_lon,min_lat,max_lon,max_lat")
    ] = None,
) -> QueueParams:
    """The queue's query parameters. A dependency of its own that needs nothing
    else: FastAPI solves every dependency's sub-dependencies again on each use,
    so the filter does not also depend on the session and the caller."""
    for name, value in (("created_from", created_from), ("created_to", created_to)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(
                f"{name} needs a UTC offset",
                errors=[{"field": name, "reason": "missing UTC offset"}],
            )
    return QueueParams(
        statuses=_csv(status, "status", {s.value for s in TicketStatus}),
        category_codes=_csv(category, "category"),
        office=office,
        overdue=overdue,
        needs_attention=needs_attention,
        created_from=created_from,
        created_to=created_to,
        bbox=_bbox(bbox),
    )


Params = Annotated[QueueParams, Depends(_queue_params)]


def queue_filter(session: Session, actor: Actor, p: QueueParams) -> repository.QueueFilter:
    """The queue's filters, checked against the caller's scope (office and
    category codes are looked up only when given)."""
    scope = scope_filter(actor)
    office_path: str | None = None
    cat_ids: tuple[int, ...] = ()
    if p.office is not None or p.category_codes:
        office_path, cat_ids = _resolve_codes(session, scope, p.office, p.category_codes)
    return repository.QueueFilter(
        scope=scope,
        statuses=p.statuses,
        category_ids=cat_ids,
        office_path=office_path,
        overdue=p.overdue,
        needs_attention=p.needs_attention,
        created_from=p.created_from,
        created_to=p.created_to,
        bbox=p.bbox,
        now=utcnow(),
    )


async def _queue_filter(session: DbSession, actor: Staff, p: Params) -> repository.QueueFilter:
    """:func:`queue_filter` for endpoints that do not touch the session themselves."""
    if p.office is None and not p.category_codes:
        return queue_filter(session, actor, p)
    return await run_in_threadpool(queue_filter, session, actor, p)


Filter = Annotated[repository.QueueFilter, Depends(_queue_filter)]


def _cursor_key(cursor: str | None, sort: str) -> dict[str, Any] | None:
    """The sort key of the row a cursor points after; a malformed one is a 422."""
    key = decode_cursor(cursor, kind=f"tickets:{sort}")
    if not key:
        return None
    try:
        out: dict[str, Any] = {}
        for c, _ in repository.SORTS[sort]:
            raw = key["v"][c]
            if c.endswith("_at"):
                out[c] = datetime.fromisoformat(raw)
                if out[c].tzinfo is None:
                    raise ValueError(c)
            elif isinstance(raw, int) and not isinstance(raw, bool):
                out[c] = raw
            else:
                raise ValueError(c)
    except (KeyError, TypeError, ValueError):
        raise InvalidInput(
            "cursor is not valid for this list",
            errors=[{"field": "cursor", "reason": "not a cursor issued by this list"}],
        ) from None
    return out


def _feature(t: dict[str, Any]) -> dict[str, Any]:
    props = {k: v for k, v in t.items() if k not in ("lat", "lon")}
    return {
        "type": "Feature",
        "id": t["id"],
        "geometry": {"type": "Point", "coordinates": [t["lon"], t["lat"]]},
        "properties": props,
    }


@router.get(
    "",
    response_model=None,
    responses={
        200: {"description": "A page of tickets (JSON, or GeoJSON with format=geojson)"},
        **problem_responses(401, 403, 422),
    },
)
def work_queue(
    request: Request,
    session: DbSession,
    actor: Staff,
    p: Params,
    sort: Annotated[str, Query(pattern="^(age|-age|priority|due|updated)$")] = "age",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    format: Annotated[str, Query(pattern="^(json|geojson)$")] = "json",
) -> Response:
    """The caller's work queue: their office (a supervisor's whole subtree), filtered and sorted."""
    # The hottest read there is: every dependency costs a solve on each request,
    # so the filter is built here and the name cache taken from the app directly.
    f = queue_filter(session, actor, p)
    names: views.NameCache = request.app.state.name_cache
    after = _cursor_key(cursor, sort)
    # In autocommit on PostgreSQL (no BEGIN/COMMIT round trips): the page is one
    # statement, after at most one lookup of the offices in scope, which change
    # only on boundary imports.
    with single_read(session, request.app.state.read_engine) as db:
        rows = repository.queue_page(db, f, sort=sort, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    kind = actor_kind_for(actor.role, is_reporter=False)
    lk = views.Lookups(session, rows, names=names)
    items = views.queue_items(rows, lk, kind=kind, now=utcnow())
    nxt = None
    if more and rows:
        last = rows[-1]
        nxt = encode_cursor(
            {
                "k": f"tickets:{sort}",
                "v": {
                    c: (getattr(last, c).isoformat() if c.endswith("_at") else getattr(last, c))
                    for c, _ in repository.SORTS[sort]
                },
            }
        )
    # One serializer pass over the page (pydantic's, as for a TicketOut).
    if format == "geojson":
        page = {"type": "FeatureCollection", "features": [_feature(t) for t in items]}
        body = to_json(page | {"next_cursor": nxt})
        return Response(body, media_type="application/geo+json")
    return Response(to_json({"items": items, "next_cursor": nxt}), media_type="application/json")


@router.get("/claims", response_model=list[TicketOut], responses=problem_responses(401, 403, 422))
def claim_queue(
    session: DbSession,
    actor: Staff,
    names: Names,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> list[TicketOut]:
    """New border or gap tickets the caller's office may claim; the first to claim owns it."""
    if actor.office_id is None:
        return []
    rows = repository.claimable(session, actor.office_id, limit=limit)
    lk = views.Lookups(session, rows, names=names)
    now = utcnow()
    return [
        views.ticket_out(
            t, lk, kind=actor_kind_for(actor.role, is_reporter=False), staff=True, now=now
        )
        for t in rows
    ]


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Every matching ticket, by id, streamed as a download: UTF-8 CSV "
            "with a BOM and a header row, or a GeoJSON FeatureCollection (RFC 7946)",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/geo+json": {"schema": {"type": "object"}},
            },
        },
        **problem_responses(401, 403, 422),
    },
)
def export_tickets(
    session_factory: SessionFactory,
    f: Filter,
    format: Annotated[ExportFormat, Query(description="csv or geojson")] = ExportFormat.csv,
) -> StreamingResponse:
    """Download the whole queue for these filters (no paging) as CSV or GeoJSON, streamed."""
    return export_response(session_factory, f, format)


def _detail_response(
    session: DbSession,
    access: TicketAccess,
    storage: Any,
    settings: Any,
    names: views.NameCache | None = None,
    status: int = 200,
    prefer: str | None = None,
    page: repository.TicketPage | None = None,
) -> Response:
    if wants_minimal(prefer):
        response = Response(
            status_code=204,
            headers={
                "ETag": service.etag(access.ticket),
                APPLIED_HEADER: MINIMAL,
                "Cache-Control": "private, no-cache",
            },
        )
    else:
        body = views.ticket_detail(
            session,
            access.ticket,
            kind=access.kind,
            staff=access.staff,
            storage=storage,
            settings=settings,
            now=utcnow(),
            names=names,
            page=page,
        )
        # Serialised once, by pydantic-core, straight to JSON bytes.
        response = Response(
            body.model_dump_json(),
            status_code=status,
            media_type="application/json",
            headers={"ETag": body.etag, "Cache-Control": "private, no-cache"},
        )
    # The change's listeners (outbox, statistics) run last, whatever the answer:
    # the rollup rows they lock are shared by every change in the city, so they
    # are held for the commit only, not while this response was built.
    hooks.run_deferred(session)
    end_transaction(session)
    return response


@router.get(
    "/{ticket_id}",
    response_model=TicketDetail,
    responses={
        304: {"description": "Not modified (If-None-Match)"},
        **problem_responses(401, 404, 422),
    },
)
def get_ticket(
    session: DbSession,
    access: TicketInScope,
    storage: Storage,
    settings: AppSettings,
    names: Names,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """A ticket with its report, photos (originals for staff) and history; ETag for If-Match."""
    if if_none_match and service.etag(access.ticket) in if_none_match:
        return Response(status_code=304, headers={"ETag": service.etag(access.ticket)})
    return _detail_response(session, access, storage, settings, names)


@router.get(
    "/{ticket_id}/events", response_model=list[EventOut], responses=problem_responses(401, 404, 422)
)
def ticket_events(session: DbSession, access: TicketInScope, names: Names) -> list[EventOut]:
    """The ticket's history: who did what, when and why (riders see office names only)."""
    events = repository.events(session, access.ticket.id)
    lk = views.Lookups(session, [access.ticket], events, names)
    return [views.event_out(e, lk, staff=access.staff) for e in events]


TicketId = Annotated[int, Path(ge=1, le=2**62, description="Ticket id")]


@dataclass(frozen=True, slots=True)
class _ForAction:
    """What the locked read of an action brings besides the ticket (PostgreSQL)."""

    page: repository.TicketPage | None = None  # the ticket's page before the change
    event_id: int | None = None  # reserved: the change is written with the COMMIT


@contextmanager
def _ticket_locked(
    session: Session,
    actor: Actor,
    ticket_id: int,
    *,
    action: bool = False,
    with_page: bool = False,
) -> Iterator[tuple[TicketAccess, _ForAction]]:
    """The ticket in the caller's scope, read once and under a row lock (until commit);
    its listeners deferred to the end of the request (see ``_detail_response``).

    ``action``, on PostgreSQL, for a request that reads nothing back after its
    one change: an id is reserved for the change's event, so the change goes
    with the COMMIT; ``with_page``: the ticket's page comes with it too (one
    statement instead of two more after the change). Otherwise both are None."""
    # The office is held for the whole request: the session keeps objects only
    # while they are referenced, and the scope check, the outbox and the rollups
    # all want it.
    extra = _ForAction()
    if action and session.get_bind().dialect.name == "postgresql":
        found = repository.locked_for_change(session, ticket_id, with_page=with_page)
        ticket, office = (found.ticket, found.office) if found is not None else (None, None)
        if found is not None:
            extra = _ForAction(found.page, found.event_id)
    else:
        found_ = repository.locked_with_office(session, ticket_id)
        ticket, office = found_ if found_ is not None else (None, None)
    access = access_for(session, actor, ticket) if ticket is not None else None
    if access is None:
        # Out of scope is indistinguishable from absent.
        raise NotFound(f"no ticket {ticket_id}")
    hooks.defer(session)
    yield access, extra
    del office


def _ticket_for_update(
    session: DbSession, actor: CurrentPrincipal, ticket_id: TicketId
) -> Iterator[TicketAccess]:
    with _ticket_locked(session, actor, ticket_id) as (access, _):
        yield access


TicketForUpdate = Annotated[TicketAccess, Depends(_ticket_for_update, scope="function")]


def _locked(session: DbSession, access: TicketForUpdate, if_match: str | None) -> TicketAccess:
    """Check the caller's If-Match against the locked ticket."""
    service.check_if_match(access.ticket, if_match)
    return access


def _act(
    session: DbSession,
    access: TicketAccess,
    action: Action,
    body: ActionBody,
    settings: Any,
    photo_ids: list[str] | None = None,
    event_id: int | None = None,
) -> TicketEvent:
    if access.kind is None:
        raise Forbidden("you may read this ticket but not act on it")
    if access.candidate and action is not Action.claim:
        raise Forbidden(
            "your office may only claim this ticket", allowed_actions=[Action.claim.value]
        )
    return service.act(
        session,
        access.ticket,
        actor=access.actor,
        kind=access.kind,
        req=service.ActRequest(
            action=action,
            note=body.note,
            resolution=body.resolution,
            reject_reason=body.reject_reason,
            duplicate_of=body.duplicate_of,
            target_office_code=body.target_office,
            photo_ids=photo_ids or (),
        ),
        settings=settings,
        now=utcnow(),
        event_id=event_id,
    )


_ACTION_DOCS = {
    Action.accept: "Take the ticket: it becomes yours (accepted).",
    Action.claim: "Claim a border ticket for your office (first to claim owns it).",
    Action.start: "Mark work as started (in_progress).",
    Action.reject: "Reject with a reason code (duplicate needs duplicate_of).",
    Action.transfer: "Send the ticket to another office (target_office) with a reason (note).",
    Action.reopen: "Reopen a resolved or closed ticket within the window (reporter or supervisor).",
    Action.close: "Close a resolved ticket: verified by a supervisor or confirmed by the reporter.",
    Action.comment: "Add a note without changing the status.",
}


def _make_action_endpoint(action: Action) -> None:
    # The busiest writes: the ticket is locked in the endpoint's own thread and
    # the app's parts taken from its state, not from dependencies (each one is
    # solved on every request; a generator dependency costs a thread hand-off).
    def endpoint(
        request: Request,
        session: DbSession,
        actor: CurrentPrincipal,
        ticket_id: TicketId,
        if_match: IfMatch = None,
        prefer: Prefer = None,
        body: ActionBody | None = None,
    ) -> Response:
        state = request.app.state
        full = not wants_minimal(prefer)
        with _ticket_locked(session, actor, ticket_id, action=True, with_page=full) as (
            access,
            extra,
        ):
            locked = _locked(session, access, if_match)
            body = body or ActionBody()
            event = _act(session, locked, action, body, state.settings, event_id=extra.event_id)
            return _detail_response(
                session,
                locked,
                state.storage,
                state.settings,
                state.name_cache,
                prefer=prefer,
                page=extra.page.with_event(event) if extra.page is not None else None,
            )

    endpoint.__doc__ = _ACTION_DOCS[action]
    router.add_api_route(
        f"/{{ticket_id}}/{action.value}",
        endpoint,
        methods=["POST"],
        response_model=TicketDetail,
        name=f"ticket_{action.value}",
        summary=_ACTION_DOCS[action],
        responses={**_MINIMAL_DOC, **problem_responses(401, 403, 404, 409, 412, 422, 428)},
    )


for _action in _ACTION_DOCS:
    _make_action_endpoint(_action)


@router.post(
    "/{ticket_id}/resolve",
    response_model=TicketDetail,
    responses={**_MINIMAL_DOC, **problem_responses(401, 403, 404, 409, 412, 413, 415, 422, 428)},
)
def resolve(
    session: DbSession,
    access: TicketForUpdate,
    storage: Storage,
    settings: AppSettings,
    names: Names,
    worker: Worker,
    session_factory: SessionFactory,
    background: BackgroundTasks,
    resolution: Annotated[
        str, Form(max_length=24, description="fixed, self_resolved or unable_to_fix")
    ],
    note: Annotated[str, Form(max_length=4000, description="What was done")],
    photos: Annotated[list[UploadFile], File(description="After photos")] = [],  # noqa: B006
    lat: Annotated[float | None, Form(description="Where the after photo was taken")] = None,
    lon: Annotated[float | None, Form()] = None,
    crs: Annotated[CRS, Form()] = CRS.wgs84,
    captured_at: Annotated[datetime | None, Form(description="When, with offset")] = None,
    if_match: IfMatch = None,
    prefer: Prefer = None,
) -> Response:
    """Say the hazard is dealt with; categories that need it take an after photo at the spot."""
    locked = _locked(session, access, if_match)
    ticket = locked.ticket
    category = session.get(Category, ticket.category_id)
    report = session.get(Report, ticket.report_id)
    assert category is not None and report is not None
    if (lat is None) != (lon is None):
        raise InvalidInput(
            "give both lat and lon, or neither",
            errors=[{"field": "lat" if lat is None else "lon", "reason": "missing"}],
        )
    if captured_at is not None and captured_at.tzinfo is None:
        raise InvalidInput(
            "captured_at needs a UTC offset",
            errors=[{"field": "captured_at", "reason": "missing UTC offset"}],
        )
    checked = [
        photos_service.check(data, settings)
        for data in read_uploaded_files(photos, settings.max_photo_bytes)
    ]
    given = to_wgs84(lon, lat, crs) if lat is not None and lon is not None else None
    local = ZoneInfo(settings.local_timezone)
    after = []
    for i, p in enumerate(checked):
        gps = p.facts.gps
        where = (gps.lat, gps.lon) if gps else ((given[1], given[0]) if given else (None, None))
        taken = evidence.capture_time(p.facts.captured_at, p.facts.captured_at_offset_known, local)
        after.append(
            evidence.AfterPhoto(
                i,
                where[0],
                where[1],
                taken or captured_at,
                "exif" if gps else ("given" if given else "none"),
            )
        )
    evidence.check(
        after,
        required=category.evidence_required,
        spot=(ticket.lat, ticket.lon),
        reported_at=report.created_at,
        max_distance_m=settings.evidence_max_distance_m,
    )
    stored = photos_service.existing_ids(session, [p.sha256 for p in checked])
    written = photos_service.store_originals(storage, checked, already_stored=set(stored))
    try:
        photos_service.insert_rows(session, checked, locked.actor.id)
        _act(
            session,
            locked,
            Action.resolve,
            ActionBody(note=note, resolution=resolution),
            settings,
            photo_ids=[p.sha256 for p in checked],
        )
    except BaseException:
        photos_service.discard(session_factory, storage, written)
        raise
    for p in checked:
        if p.sha256 not in stored:
            background.add_task(worker.enqueue, p.sha256, p.facts.image)
    return _detail_response(session, locked, storage, settings, names, prefer=prefer)


@router.patch(
    "/{ticket_id}",
    response_model=TicketDetail,
    responses={**_MINIMAL_DOC, **problem_responses(401, 403, 404, 412, 422, 428)},
)
def patch_ticket(
    session: DbSession,
    access: TicketForUpdate,
    storage: Storage,
    settings: AppSettings,
    names: Names,
    grid_router: GridRouterDep,
    body: TicketPatch,
    if_match: IfMatch = None,
    prefer: Prefer = None,
) -> Response:
    """Change category (re-routed when the category belongs to another office level) or priority."""
    if not access.staff or access.candidate or access.kind is None:
        raise Forbidden("only staff of the owning office change a ticket")
    locked = _locked(session, access, if_match)
    now = utcnow()
    if body.category is not None:
        category = categories_repo.get_by_code(session, body.category)
        if category is None or not category.active:
            raise InvalidInput(
                f"unknown category {body.category!r}",
                errors=[{"field": "category", "reason": "unknown category"}],
            )
        if category.id != locked.ticket.category_id:
            routed = grid_router.route(session, locked.ticket.lat, locked.ticket.lon)
            service.change_category(
                session,
                locked.ticket,
                category,
                actor=locked.actor,
                routed=routed,
                now=now,
                note=body.note,
            )
    if body.priority is not None and body.priority != locked.ticket.priority:
        service.change_priority(
            session, locked.ticket, body.priority, actor=locked.actor, now=now, note=body.note
        )
    return _detail_response(session, locked, storage, settings, names, prefer=prefer)
