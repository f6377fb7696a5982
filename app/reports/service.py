"""Rider intake: one report, its photos and its routed ticket, in one transaction.

A report the server acknowledged (201) is durable: the originals are stored
before the rows that point at them commit, and the idempotency key is claimed
in the same transaction, so a retried request never makes a second report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from app.auth.actor import Actor
from app.categories import repository as categories_repo
from app.categories.models import Category
from app.config import Settings
from app.core import idempotency
from app.core.db import mark_writer
from app.core.errors import InvalidInput, TooManyRequests
from app.core.geo import CRS, check_lon_lat, haversine_m, to_wgs84
from app.grids.exceptions import OutsideServiceArea
from app.grids.service import GridRouter, Lookup
from app.photos import service as photos
from app.photos import uploads
from app.photos.exceptions_images import PhotoRejected
from app.photos.images import content_key
from app.photos.storage import ObjectStorage
from app.reports import repository, views
from app.reports.models import Report
from app.tickets import hooks
from app.tickets.models import Ticket
from app.tickets.service import open_ticket

log = logging.getLogger("gridfix.reports")

OPERATION = "POST /v1/reports"


@dataclass(slots=True)
class IntakeRequest:
    category: str
    lat: float | None = None
    lon: float | None = None
    crs: CRS = CRS.wgs84
    accuracy_m: float | None = None
    description: str | None = None
    captured_at: datetime | None = None
    photos: list[bytes] = field(default_factory=list)
    upload_ids: list[str] = field(default_factory=list)
    idempotency_key: str | None = None
    source: str = "app"


@dataclass(slots=True)
class IntakeDeps:
    settings: Settings
    storage: ObjectStorage
    grid_router: GridRouter
    session_factory: sessionmaker[Session]


@dataclass(slots=True)
class IntakeResult:
    status: int
    body: dict[str, Any]
    replayed: bool = False
    # Photos whose derivatives should be made now, with their original bytes
    # (typed as the worker takes them: other callers hand over decoded pictures).
    derive: list[tuple[str, Image.Image | bytes]] = field(default_factory=list)
    # Objects no longer needed once the transaction committed (consumed uploads).
    cleanup_keys: list[str] = field(default_factory=list)


def _field_error(field_: str, reason: str, detail: str | None = None) -> InvalidInput:
    return InvalidInput(
        detail or f"{field_}: {reason}", errors=[{"field": field_, "reason": reason}]
    )


def check_rate(session: Session, actor: Actor, settings: Settings, now: datetime) -> None:
    """Per-reporter limit over a sliding hour; 429 with Retry-After when exceeded."""
    limit = settings.reports_per_hour
    if limit <= 0:
        return
    # Limited while the limit-th latest report is less than an hour old; the next
    # one is welcome as soon as it leaves the window.
    at = repository.nth_latest_time(session, actor.id, limit)
    if at is not None and at > now - timedelta(hours=1):
        wait = int((at + timedelta(hours=1) - now).total_seconds()) + 1
        raise TooManyRequests(
            f"at most {limit} reports an hour; try again in {max(wait, 1)} s",
            retry_after=max(wait, 1),
        )


def category_for(session: Session, code: str) -> Category:
    """The active category ``code``, or 422 listing the valid codes."""
    category = categories_repo.get_by_code(session, code)
    if category is None or not category.active:
        valid = [c.code for c in categories_repo.list_categories(session)]
        raise InvalidInput(
            f"unknown category {code!r}; valid codes: {', '.join(valid)}",
            errors=[{"field": "category", "reason": "unknown category", "valid": valid}],
        )
    return category


def _check_photos(
    req: IntakeRequest,
    deps: IntakeDeps,
    session: Session,
    actor: Actor,
    now: datetime,
    digests: list[str],
) -> tuple[list[photos.CheckedPhoto], list[Any]]:
    checked: list[photos.CheckedPhoto] = []
    for i, (data, digest) in enumerate(zip(req.photos, digests, strict=True)):
        checked.append(_checked(data, deps.settings, f"photos[{i}]", digest))
    claimed = uploads.claim_for_report(
        session, deps.storage, deps.settings, actor, req.upload_ids, now
    )
    for i, (_upload, data) in enumerate(claimed):
        checked.append(_checked(data, deps.settings, f"upload_ids[{i}]"))
    return checked, [u for u, _ in claimed]


def _checked(
    data: bytes, settings: Settings, field_: str, digest: str | None = None
) -> photos.CheckedPhoto:
    try:
        # The picture itself is not kept: derivatives are made from the bytes later.
        return photos.check(data, settings, keep_image=False, sha256=digest)
    except PhotoRejected as exc:
        exc.errors = [{"field": field_, "reason": exc.reason.value, "detail": exc.detail}]
        exc.detail = f"{field_}: {exc.detail}"
        raise


@dataclass(slots=True)
class _Place:
    lat: float
    lon: float
    source: str
    exif: tuple[float, float] | None
    mismatch_m: float | None


def _locate(req: IntakeRequest, checked: list[photos.CheckedPhoto], settings: Settings) -> _Place:
    gps = checked[0].facts.gps if checked else None
    exif = (gps.lat, gps.lon) if gps else None
    if (req.lat is None) != (req.lon is None):
        missing = "lon" if req.lon is None else "lat"
        raise _field_error(missing, "give both lat and lon, or neither")
    if req.lat is None or req.lon is None:
        if exif is None:
            raise InvalidInput(
                "no location: send lat and lon, or a first photo that carries GPS",
                errors=[
                    {"field": "lat", "reason": "location required"},
                    {"field": "lon", "reason": "location required"},
                ],
            )
        return _Place(exif[0], exif[1], "exif", exif, None)
    errors = check_lon_lat(req.lon, req.lat)
    if errors:
        raise InvalidInput("coordinates are not usable", errors=errors)
    lon, lat = to_wgs84(req.lon, req.lat, req.crs)
    mismatch = haversine_m(lon, lat, exif[1], exif[0]) if exif else None
    return _Place(lat, lon, "given", exif, mismatch)


def submit(
    session: Session, deps: IntakeDeps, actor: Actor, req: IntakeRequest, now: datetime
) -> IntakeResult:
    """Validate, store and route one report; returns the 201 body (or a replay).

    Three phases, so no lock is held while photos decode or upload:
    1. read and check (category, photos, location, route) in a read transaction;
    2. put the originals, outside any transaction — content-addressed, so a
       retry or a concurrent duplicate writes the same bytes to the same keys;
    3. one short write transaction: rate limit, re-check uploads, insert report +
       photos + ticket + event, and last the idempotency key with its response.
    """
    settings = deps.settings
    # The write lock (SQLite) or snapshot taken while authenticating is not needed yet.
    session.rollback()
    if req.description is not None and len(req.description) > settings.description_max_chars:
        raise _field_error("description", f"at most {settings.description_max_chars} characters")
    count = len(req.photos) + len(req.upload_ids)
    if count > settings.max_photos_per_report:
        raise _field_error("photos", f"at most {settings.max_photos_per_report} photos a report")
    category = category_for(session, req.category)
    if count == 0 and category.photo_required:
        raise _field_error("photos", f"category {category.code!r} needs at least one photo")
    key = idempotency.validate_key(req.idempotency_key)
    digests = [content_key(data) for data in req.photos]
    # Look the key up before checking the photos: a retry must replay the first answer,
    # although that request consumed its uploads ("already part of a report").
    fingerprint = idempotency.request_fingerprint(
        OPERATION,
        {
            "category": category.code,
            "lat": req.lat,
            "lon": req.lon,
            "crs": req.crs.value,
            "accuracy_m": req.accuracy_m,
            "description": req.description,
            "captured_at": req.captured_at,
            "photos": digests,
            "upload_ids": req.upload_ids,
        },
    )
    if key is not None:
        done = idempotency.find(session, actor.id, key, OPERATION, fingerprint)
        if done is not None:
            return IntakeResult(done.status, done.body, replayed=True)
    checked, upload_rows = _check_photos(req, deps, session, actor, now, digests)
    place = _locate(req, checked, settings)
    try:
        routed = deps.grid_router.route(session, place.lat, place.lon, CRS.wgs84)
    except OutsideServiceArea as exc:
        field_ = "photos[0]" if place.source == "exif" else "lat"
        exc.errors = [{"field": field_, "reason": "outside the service area"}]
        raise
    # Photos seen before may already have derivatives: their rows give the 201 body.
    known = views.photos_by_id(session, {p.sha256 for p in checked})
    # Commit, not roll back, the read transaction: a rollback would expire the
    # category and offices just loaded and reload them inside the write lock.
    session.commit()

    written: list[str] = []
    try:
        # Inside the try: when the second put fails, the first original must go too.
        photos.store_originals(deps.storage, checked, already_stored=set(known), written=written)
        mark_writer(session)
        # The new ticket's listeners run at the commit, and on PostgreSQL their
        # writes to rows every report in a district shares (rollups) go with the
        # COMMIT itself: nothing below reads them back.
        hooks.defer(session)
        first = _check_rate_or_replay(session, actor, settings, now, key, fingerprint)
        if first is not None:
            written = []  # the first request's objects: same content, same keys
            return IntakeResult(first.status, first.body, replayed=True)
        uploads.lock_for_use(session, actor, [u.id for u in upload_rows])
        attention = place.mismatch_m is not None and place.mismatch_m > settings.location_mismatch_m
        report, ticket = _insert(
            session, req, actor, category, place, routed, checked, now, attention
        )
        uploads.mark_used(session, upload_rows, checked[len(req.photos) :], now)
        # Built from the rows in hand: no queries on the hot path.
        body = views.created_body(
            report,
            ticket,
            routed.office,
            category.code,
            [
                views.photo_out(known[p.sha256], deps.storage, settings, staff=actor.is_staff)
                if p.sha256 in known
                else views.pending_photo(p)
                for p in checked
            ],
        )
        if key is not None:
            first = idempotency.record(
                session,
                actor.id,
                key,
                OPERATION,
                fingerprint,
                status=201,
                body=body,
                ttl_s=settings.idempotency_ttl_s,
                now=now,
            )
            if first is not None:
                # A concurrent duplicate won: drop our rows; the objects we wrote
                # are its objects too (same content, same keys).
                session.rollback()
                written = []
                return IntakeResult(first.status, first.body, replayed=True)
        session.flush()
    except BaseException:
        session.rollback()
        photos.discard(deps.session_factory, deps.storage, written)
        raise
    derive: list[tuple[str, Image.Image | bytes]] = [
        (p.sha256, p.data) for p in checked if p.sha256 not in known
    ]
    cleanup = [u.object_key for u in upload_rows]
    return IntakeResult(201, body, derive=derive, cleanup_keys=cleanup)


def _check_rate_or_replay(
    session: Session,
    actor: Actor,
    settings: Settings,
    now: datetime,
    key: str | None,
    fingerprint: str,
) -> idempotency.StoredResponse | None:
    """The rate limit, except for a retry whose first request committed meanwhile:
    a retry is answered with the first response (returned here), never with 429."""
    try:
        check_rate(session, actor, settings, now)
    except TooManyRequests:
        done = idempotency.find(session, actor.id, key, OPERATION, fingerprint) if key else None
        if done is None:
            raise
        return done
    return None


def _insert(
    session: Session,
    req: IntakeRequest,
    actor: Actor,
    category: Category,
    place: _Place,
    routed: Lookup,
    checked: list[photos.CheckedPhoto],
    now: datetime,
    attention: bool,
) -> tuple[Report, Ticket]:
    mismatch = place.mismatch_m
    values: dict[str, Any] = {
        "reporter_id": actor.id,
        "category_id": category.id,
        "description": req.description,
        "lat": place.lat,
        "lon": place.lon,
        "location_source": place.source,
        "given_lat": req.lat,
        "given_lon": req.lon,
        "given_crs": req.crs.value if req.lat is not None else None,
        "accuracy_m": req.accuracy_m,
        "exif_lat": place.exif[0] if place.exif else None,
        "exif_lon": place.exif[1] if place.exif else None,
        "location_mismatch_m": round(mismatch, 1) if mismatch is not None else None,
        "needs_attention": attention,
        "captured_at": req.captured_at
        or (
            checked[0].facts.captured_at
            if checked and checked[0].facts.captured_at_offset_known
            else None
        ),
        "source": req.source,
        "created_at": now,
    }
    # Core statements with RETURNING: one round trip each and no unit-of-work
    # bookkeeping; the Report object is built from the values, never loaded.
    report_id = repository.insert_report(session, values)
    report = Report(id=report_id, **values)
    photos.insert_rows(session, checked, actor.id)
    repository.insert_report_photos(session, report_id, [p.sha256 for p in checked])
    ticket = open_ticket(
        session, report=report, category=category, routed=routed, actor=actor, now=now
    )
    return report, ticket
