"""How reports look to their readers: riders see derivatives, staff also the
original (short-lived URL); nobody but the reporter learns who reported."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.categories.models import Category
from app.config import Settings
from app.grids.models import Office
from app.photos.models import Photo
from app.photos.service import CheckedPhoto
from app.photos.storage import ObjectStorage
from app.reports import repository
from app.reports.models import Report
from app.reports.schemas import NearbyReport, OfficeBrief, PhotoOut, ReportOut, TicketBrief
from app.tickets import repository as tickets_repo
from app.tickets.models import Ticket
from app.tickets.repository import NearbyHit


class PhotoLike(Protocol):
    """A photo as its answer reads it: an ORM ``Photo`` or a row of its columns."""

    @property
    def id(self) -> str: ...
    @property
    def derivatives_status(self) -> str: ...
    @property
    def width(self) -> int | None: ...
    @property
    def height(self) -> int | None: ...
    @property
    def mime_type(self) -> str: ...
    @property
    def original_key(self) -> str: ...
    @property
    def display_key(self) -> str | None: ...
    @property
    def thumb_key(self) -> str | None: ...


def photo_out(
    photo: PhotoLike, storage: ObjectStorage, settings: Settings, *, staff: bool
) -> PhotoOut:
    ready = photo.derivatives_status == "ready"
    ttl = settings.derivative_url_ttl_s
    return PhotoOut(
        id=photo.id,
        status=photo.derivatives_status,
        width=photo.width,
        height=photo.height,
        thumb_url=storage.presigned_get(photo.thumb_key, ttl_s=ttl)
        if ready and photo.thumb_key
        else None,
        display_url=storage.presigned_get(photo.display_key, ttl_s=ttl)
        if ready and photo.display_key
        else None,
        original_url=storage.presigned_get(
            photo.original_key,
            ttl_s=settings.original_url_ttl_s,
            filename=f"{photo.id[:16]}.{photo.mime_type.rsplit('/', 1)[-1]}",
        )
        if staff
        else None,
    )


def pending_photo(photo: CheckedPhoto) -> PhotoOut:
    return PhotoOut(
        id=photo.sha256, status="pending", width=photo.facts.width, height=photo.facts.height
    )


def photos_by_id(session: Session, ids: Collection[str]) -> dict[str, Photo]:
    return {p.id: p for p in session.scalars(select(Photo).where(Photo.id.in_(list(ids))))}


def _out(
    r: Report, t: Ticket, office: Office, category_code: str, photos: list[PhotoOut]
) -> ReportOut:
    return ReportOut(
        id=r.id,
        category=category_code,
        description=r.description,
        lat=r.lat,
        lon=r.lon,
        location_source=r.location_source,
        given_crs=r.given_crs,
        accuracy_m=r.accuracy_m,
        location_mismatch_m=r.location_mismatch_m,
        needs_attention=r.needs_attention,
        captured_at=r.captured_at,
        created_at=r.created_at,
        ticket=TicketBrief(
            id=t.id,
            status=t.status,
            resolution=t.resolution,
            office=OfficeBrief(code=office.code, name=office.name),
            route_reason=t.route_reason,
            due_at=t.due_at,
            updated_at=t.updated_at,
        ),
        photos=photos,
    )


def created_body(
    r: Report, t: Ticket, office: Office, category_code: str, photos: list[PhotoOut]
) -> dict[str, Any]:
    """The 201 body of a new report (also what an idempotent replay returns)."""
    return _out(r, t, office, category_code, photos).model_dump(mode="json")


def reports_out(
    session: Session,
    reports: list[Report],
    storage: ObjectStorage,
    settings: Settings,
    *,
    staff: bool,
) -> list[ReportOut]:
    """Serialise reports with their ticket and photos in a fixed number of queries."""
    if not reports:
        return []
    ids = [r.id for r in reports]
    tickets = tickets_repo.for_reports(session, ids)
    pics = repository.photos_for(session, ids)
    cats = {
        c.id: c.code
        for c in session.scalars(
            select(Category).where(Category.id.in_({r.category_id for r in reports}))
        )
    }
    office_ids = {t.office_id for t in tickets.values()}
    offices = {o.id: o for o in session.scalars(select(Office).where(Office.id.in_(office_ids)))}
    return [
        _out(
            r,
            tickets[r.id],
            offices[tickets[r.id].office_id],
            cats[r.category_id],
            [photo_out(p, storage, settings, staff=staff) for p in pics.get(r.id, [])],
        )
        for r in reports
    ]


def nearby_out(
    session: Session, hits: list[NearbyHit], storage: ObjectStorage, settings: Settings
) -> list[NearbyReport]:
    """Nearby open reports: category, status, distance and a thumbnail; never who reported."""
    tickets = {t.id: t for t in tickets_repo.get_many(session, [h.ticket_id for h in hits])}
    report_ids = [t.report_id for t in tickets.values()]
    pics = repository.photos_for(session, report_ids)
    cats = {
        c.id: c.code
        for c in session.scalars(
            select(Category).where(Category.id.in_({t.category_id for t in tickets.values()}))
        )
    }
    out = []
    for h in hits:
        t = tickets[h.ticket_id]
        first = next(iter(pics.get(t.report_id, [])), None)
        thumb = None
        if first is not None and first.derivatives_status == "ready" and first.thumb_key:
            thumb = storage.presigned_get(first.thumb_key, ttl_s=settings.derivative_url_ttl_s)
        out.append(
            NearbyReport(
                report_id=t.report_id,
                ticket_id=t.id,
                category=cats[t.category_id],
                status=t.status,
                distance_m=round(h.distance_m, 1),
                created_at=t.created_at,
                thumb_url=thumb,
            )
        )
    return out
