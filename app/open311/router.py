"""Open311 GeoReport v2 endpoints, and :func:`install`, which mounts them.

Resources (GeoReport v2, plus mySociety's ``servicerequestupdates``), each as
``.xml`` (the spec's required format) or ``.json``:

===========================================  =====================================
GET  discovery.{fmt}                         Service Discovery
GET  services.{fmt}                          GET Service List
GET  services/{service_code}.{fmt}           GET Service Definition
POST requests.{fmt}                          POST Service Request (api_key)
GET  requests.{fmt}                          GET Service Requests
GET  requests/{service_request_id}.{fmt}     GET Service Request
GET  tokens/{token}.{fmt}                    GET service_request_id from a token
GET  servicerequestupdates.{fmt}             mySociety: GET Service Request Updates
POST servicerequestupdates.{fmt}             mySociety: POST Service Request Update
                                             (api_key of staff; officer actions)
===========================================  =====================================

Reads are public, as the spec allows. Writes need an ``api_key`` (form field,
query parameter or ``X-API-Key`` header).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, FastAPI, Header, Path, Query, Request, Response
from sqlalchemy.orm import Session

from app.auth.dependencies import AppSettings
from app.categories import repository as categories_repo
from app.categories.fingerprint import catalogue_fingerprint
from app.config import Settings
from app.core import idempotency
from app.core.db import DbSession, utcnow
from app.grids.dependencies import GridRouterDep
from app.open311 import repository, service, updates, views
from app.open311.config import Open311Config
from app.open311.dependencies import (
    Config,
    Fmt,
    Jurisdiction,
    Open311State,
    State,
    SubmissionDep,
    check_jurisdiction,
)
from app.open311.errors import Open311Error, install_error_format
from app.open311.formats import JSON_TYPE, XML_TYPE, render
from app.open311.queries import RequestFilters, UpdateFilters, parse_filters, parse_update_filters
from app.open311.status import explaining_event
from app.photos.dependencies import Storage
from app.photos.storage import ObjectStorage
from app.reports import repository as reports_repo
from app.reports.dependencies import SessionFactory, Worker
from app.reports.service import IntakeDeps

MAX_ID = 2**62

_FORMATS: dict[str, Any] = {
    "description": "The resource in the format the URL names",
    "content": {XML_TYPE.split(";")[0]: {}, JSON_TYPE.split(";")[0]: {}},
}
_ERRORS: dict[str, Any] = {
    "content": {XML_TYPE.split(";")[0]: {}, JSON_TYPE.split(";")[0]: {}},
}


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Invalid request: `[{code, description}]`",
        403: "Missing or invalid api_key: `[{code, description}]`",
        404: "Not found (or unknown format): `[{code, description}]`",
    }
    return {200: _FORMATS, **{c: {**_ERRORS, "description": text[c]} for c in codes}}


router = APIRouter(tags=["open311"], dependencies=[Jurisdiction])


# ---------------------------------------------------------------- discovery, services
@router.get("/discovery.{fmt}", response_class=Response, responses=_responses(400, 404))
def discovery(fmt: Fmt, config: Config, session: DbSession) -> Response:
    """Service Discovery: endpoint, formats, contact, and a changeset that follows the services."""
    change = views.changeset(
        repository.catalogue_changed_at(session),
        catalogue_fingerprint(categories_repo.list_categories(session)),
    )
    return render(fmt, "discovery", views.discovery(config, change))


@router.get("/services.{fmt}", response_class=Response, responses=_responses(400, 404))
def services(fmt: Fmt, session: DbSession) -> Response:
    """GET Service List: the hazard categories riders and partners may report."""
    items = [views.service(c) for c in categories_repo.list_categories(session)]
    return render(fmt, "services", items)


@router.get(
    "/services/{service_code}.{fmt}", response_class=Response, responses=_responses(400, 404)
)
def service_definition(
    fmt: Fmt,
    session: DbSession,
    service_code: Annotated[str, Path(max_length=64)],
) -> Response:
    """GET Service Definition: the attributes (extra questions) of one service."""
    category = categories_repo.get_by_code(session, service_code)
    if category is None or not category.active:
        raise Open311Error(404, f"service_code {service_code!r} not found")
    return render(fmt, "service_definition", views.service_definition(category))


# ---------------------------------------------------------------- requests
_POST_FIELDS = {
    name: {"type": "string", "description": text}
    for name, text in {
        "api_key": "Partner API key (or the `api_key` query parameter)",
        "jurisdiction_id": "Checked when the server names one",
        "service_code": "From GET services",
        "lat": "Latitude, WGS-84 (required with long)",
        "long": "Longitude, WGS-84",
        "address_string": "Kept beside lat/long; alone it is refused (no geocoder)",
        "address_id": "Kept beside lat/long; alone it is refused",
        "description": "Up to 4,000 characters",
        "media_url": "An image URL, fetched SSRF-safely; a failed fetch is noted, not fatal",
        "email": "Private", "device_id": "Private", "account_id": "Private",
        "first_name": "Private", "last_name": "Private", "phone": "Private",
        "attribute[code]": "An answer; attribute[code][]= for multivaluelist",
    }.items()
}  # fmt: skip


def _form_body(
    fields: dict[str, Any], media_doc: str, required: list[str] | None = None
) -> dict[str, Any]:
    """OpenAPI request body for a form POST, urlencoded or multipart with `media` files."""
    urlencoded: dict[str, Any] = {"type": "object", "properties": fields}
    if required:
        urlencoded["required"] = required
    binary = {"type": "string", "format": "binary"}
    media = {"type": "array", "items": binary, "description": media_doc}
    multipart = {**urlencoded, "properties": {**fields, "media": media}}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": urlencoded},
                "multipart/form-data": {"schema": multipart},
            },
        }
    }


_POST_BODY = _form_body(_POST_FIELDS, "Photos (GeoReport v2.1 draft); take precedence")


@router.post(
    "/requests.{fmt}",
    response_class=Response,
    responses=_responses(400, 403, 404),
    openapi_extra=_POST_BODY,
)
def create_request(
    request: Request,
    fmt: Fmt,
    # Before the session: on SQLite a POST's session takes the write lock, which
    # must not be held while a slow client uploads its form.
    sub: SubmissionDep,
    state: State,
    session: DbSession,
    storage: Storage,
    grid_router: GridRouterDep,
    worker: Worker,
    session_factory: SessionFactory,
    background: BackgroundTasks,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", description="A UUID, resent on retries")
    ] = None,
) -> Response:
    """POST Service Request: a partner's report, routed and ticketed like any other."""
    check_jurisdiction(state.config, sub.get("jurisdiction_id"))
    actor = service.authenticate(
        session,
        sub.get("api_key")
        or request.query_params.get("api_key")
        or request.headers.get("X-API-Key"),
    )
    deps = IntakeDeps(state.intake_settings, storage, grid_router, session_factory)
    outcome = service.create(session, deps, state.config, actor, sub, idempotency_key, utcnow())
    for photo_id, image in outcome.derive:
        background.add_task(worker.enqueue, photo_id, image)
    headers = {idempotency.REPLAY_HEADER: "true"} if outcome.replayed else None
    return render(fmt, "service_requests", [outcome.item], headers=headers)


def _request_items(
    session: Session,
    rows: list[repository.RequestRow],
    storage: ObjectStorage,
    settings: Settings,
    *,
    extensions: bool,
) -> list[dict[str, Any]]:
    report_ids = [r.report.id for r in rows]
    ticket_ids = [r.ticket.id for r in rows]
    pics = reports_repo.photos_for(session, report_ids)
    latest = repository.latest_public_events(session, ticket_ids)
    closed = [t for t, e in latest.items() if e.kind == "closed"]
    resolved = repository.latest_events_of_kind(session, closed, "resolved")
    events = repository.public_events(session, ticket_ids) if extensions else {}
    ttl = settings.derivative_url_ttl_s
    return [
        views.request_item(
            r,
            pics.get(r.report.id, []),
            explaining_event(latest.get(r.ticket.id), resolved.get(r.ticket.id)),
            storage,
            ttl,
            events=events.get(r.ticket.id, []) if extensions else None,
        )
        for r in rows
    ]


@router.get("/requests.{fmt}", response_class=Response, responses=_responses(400, 404))
def list_requests(
    fmt: Fmt,
    session: DbSession,
    storage: Storage,
    settings: AppSettings,
    filters: Annotated[RequestFilters, Query()],
) -> Response:
    """GET Service Requests: by ids, or the last 90 days (at most 1,000, pageable)."""
    query, extensions = parse_filters(filters, utcnow())
    rows = repository.find_requests(session, query)
    items = _request_items(session, rows, storage, settings, extensions=extensions)
    return render(fmt, "service_requests", items)


@router.get(
    "/requests/{service_request_id}.{fmt}",
    response_class=Response,
    responses=_responses(400, 404),
)
def get_request(
    fmt: Fmt,
    session: DbSession,
    storage: Storage,
    settings: AppSettings,
    service_request_id: Annotated[str, Path(max_length=32)],
    extensions: Annotated[bool, Query(description="Add attributes, photos and notes")] = False,
) -> Response:
    """GET Service Request: one request, still as an array of one."""
    if not service_request_id.isdigit() or not 0 < int(service_request_id) < MAX_ID:
        raise Open311Error(404, f"service_request_id {service_request_id!r} not found")
    rows = repository.find_requests(
        session, repository.RequestQuery(ids=[int(service_request_id)], limit=1)
    )
    if not rows:
        raise Open311Error(404, f"service_request_id {service_request_id!r} not found")
    items = _request_items(session, rows, storage, settings, extensions=extensions)
    return render(fmt, "service_requests", items)


@router.get("/tokens/{token}.{fmt}", response_class=Response, responses=_responses(400, 404))
def get_token(fmt: Fmt, session: DbSession, token: Annotated[str, Path(max_length=64)]) -> Response:
    """GET service_request_id from a token (ours are realtime: the id is there at once)."""
    extra = repository.by_token(session, token)
    if extra is None:
        raise Open311Error(404, f"token {token[:64]!r} not found")
    return render(fmt, "service_requests", [views.token_item(extra.report_id, extra.token)])


# ---------------------------------------------------------------- updates (mySociety)
@router.get("/servicerequestupdates.{fmt}", response_class=Response, responses=_responses(400, 404))
def list_updates(
    fmt: Fmt, session: DbSession, filters: Annotated[UpdateFilters, Query()]
) -> Response:
    """mySociety GET Service Request Updates: status changes in a window (≤ 90 days)."""
    start, end, limit, offset = parse_update_filters(filters, utcnow())
    rows = repository.find_updates(session, start, end, limit=limit, offset=offset)
    items = [views.update_item(event, report_id) for event, report_id in rows]
    return render(fmt, "service_request_updates", items)


_UPDATE_FIELDS = {
    name: {"type": "string", "description": text}
    for name, text in {
        "api_key": "API key of an officer, supervisor or admin (or the `api_key` query parameter)",
        "jurisdiction_id": "Checked when the server names one",
        "service_request_id": "The request to update (required)",
        "update_id": "Your own id for this update (required): a retry with it is answered "
                     "with the first response; `update_id_ext` is read too",
        "status": "OPEN, CLOSED or mySociety's extended values (INVESTIGATING, IN_PROGRESS, "
                  "ACTION_SCHEDULED, FIXED, NO_FURTHER_ACTION, NOT_COUNCILS_RESPONSIBILITY, "
                  "DUPLICATE, INTERNAL_REFERRAL, CANCELLED, REOPEN …), any case (required)",
        "description": "The note (up to 4,000 characters); required for most changes",
        "updated_datetime": "When the update was made (W3C, with offset); recorded",
        "media_url": "The after photo when the update resolves the request (fetched SSRF-safely)",
        "duplicate_of": "gridfix: the original's service_request_id, for DUPLICATE",
        "target_office": "gridfix: an office code, for INTERNAL_REFERRAL",
        "first_name": "Accepted, not stored", "last_name": "Accepted, not stored",
        "email": "Accepted, not stored", "account_id": "Accepted, not stored",
    }.items()
}  # fmt: skip
_UPDATE_BODY = _form_body(
    _UPDATE_FIELDS,
    "The after photo as a file; wins over media_url",
    required=["service_request_id", "update_id", "status"],
)


@router.post(
    "/servicerequestupdates.{fmt}",
    response_class=Response,
    responses=_responses(400, 403, 404),
    openapi_extra=_UPDATE_BODY,
)
def post_update(
    request: Request,
    fmt: Fmt,
    sub: SubmissionDep,  # before the session: see create_request
    state: State,
    session: DbSession,
    storage: Storage,
    settings: AppSettings,
    worker: Worker,
    session_factory: SessionFactory,
    background: BackgroundTasks,
) -> Response:
    """mySociety POST Service Request Update: a status change, applied as officer actions."""
    check_jurisdiction(state.config, sub.get("jurisdiction_id"))
    actor = updates.authenticate(
        session,
        sub.get("api_key")
        or request.query_params.get("api_key")
        or request.headers.get("X-API-Key"),
    )
    deps = updates.UpdateDeps(settings, state.config, storage, session_factory)
    outcome = updates.post_update(session, deps, actor, sub, utcnow())
    for photo_id, image in outcome.derive:
        background.add_task(worker.enqueue, photo_id, image)
    headers = {idempotency.REPLAY_HEADER: "true"} if outcome.replayed else None
    return render(fmt, "service_request_updates", outcome.items, headers=headers)


# ---------------------------------------------------------------- mounting
def install(app: FastAPI, settings: Settings, config: Open311Config | None = None) -> None:
    """Mount the adapter under ``config.prefix`` with its own error format.

    Call it after ``install_error_handlers``. Calling it again (tests that need a
    different configuration) replaces the configuration and mounts nothing twice.
    """
    config = config or Open311Config.from_settings(settings)
    state = Open311State(config=config, intake_settings=config.intake_settings(settings))
    already = getattr(app.state, "open311", None)
    app.state.open311 = state
    if already is not None:
        if already.config.prefix != config.prefix:
            raise RuntimeError("the Open311 adapter is already mounted at another prefix")
        return
    install_error_format(app, config.prefix)
    app.include_router(router, prefix=config.prefix)
