"""The media of Open311 writes: files sent with the form, a ``media_url`` fetched
SSRF-safely (:mod:`app.core.outbound`), and the after-photo rules of an update
that resolves a request (:mod:`app.tickets.evidence`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from app.categories.models import Category
from app.config import Settings
from app.core import outbound
from app.core.errors import DomainError
from app.open311.config import Open311Config
from app.open311.dependencies import Submission
from app.open311.errors import Open311Error
from app.photos import service as photos
from app.photos.service import CheckedPhoto
from app.reports.models import Report
from app.tickets import evidence
from app.tickets.models import Ticket

log = logging.getLogger("gridfix.open311")


def read_files(sub: Submission, max_bytes: int) -> list[bytes]:
    """The ``media`` files of a form, each at most ``max_bytes`` (else 400, code 413)."""
    out = []
    for i, upload in enumerate(sub.media):
        data = upload.file.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise Open311Error(400, f"media[{i}] is larger than {max_bytes:,} bytes", code=413)
        out.append(data)
    return out


@dataclass(slots=True)
class AfterPhotos:
    """The after photos to attach, and what became of the media sent."""

    photos: list[CheckedPhoto] = field(default_factory=list)
    note: str | None = None


def after_photos(
    sub: Submission,
    media_url: str | None,
    config: Open311Config,
    settings: Settings,
    *,
    required: bool,
) -> AfterPhotos:
    """Read or fetch the after photo and check it is one; no transaction is held."""
    try:
        datas = read_files(sub, settings.max_photo_bytes)
        if not datas and media_url:
            datas = [outbound.fetch(media_url, config.media_fetch).data]
        return AfterPhotos([photos.check(d, settings) for d in datas])
    except DomainError as exc:  # FetchRefused, PhotoRejected
        if isinstance(exc, Open311Error):
            raise
        reason = getattr(exc, "reason", None) or "rejected"
        what = f"{reason}: {exc.detail}"
        if required:
            raise Open311Error(
                400, f"the after photo could not be used ({what})", code=exc.status
            ) from None
        log.warning("update media not used (%s)", what)
        return AfterPhotos([], f"not used ({what})"[:255])


def check_evidence(
    after: AfterPhotos, ticket: Ticket, report: Report, category: Category, settings: Settings
) -> AfterPhotos:
    """Apply the category's evidence rule to the after photos (see the module docstring)."""
    if not after.photos and not category.evidence_required:
        return after
    local = ZoneInfo(settings.local_timezone)
    candidates = []
    for i, p in enumerate(after.photos):
        gps = p.facts.gps
        taken = evidence.capture_time(p.facts.captured_at, p.facts.captured_at_offset_known, local)
        where = (gps.lat, gps.lon) if gps else (None, None)
        candidates.append(
            evidence.AfterPhoto(i, where[0], where[1], taken, "exif" if gps else "none")
        )
    try:
        evidence.check(
            candidates,
            required=category.evidence_required,
            spot=(ticket.lat, ticket.lon),
            reported_at=report.created_at,
            max_distance_m=settings.evidence_max_distance_m,
        )
    except evidence.EvidenceRejected as exc:
        reasons = "; ".join(f"{e.get('field', 'media')}: {e['reason']}" for e in (exc.errors or []))
        if category.evidence_required:
            raise Open311Error(
                400,
                f"service {category.code!r} needs an after photo taken at the spot after the "
                f"report, with GPS and capture time in its EXIF; send it as media or "
                f"media_url ({reasons or exc.detail})",
                code=422,
            ) from None
        return AfterPhotos([], f"not used: {reasons or exc.detail}"[:255])
    return after
