"""SQL for reports."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    ScalarSelect,
    bindparam,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from app.core.db import utc_from_json
from app.photos.models import Photo
from app.reports.models import Report, ReportPhoto


def nth_latest_time(session: Session, reporter_id: int, n: int) -> datetime | None:
    """When the reporter's ``n``-th latest report was made (None: fewer than ``n``).

    Walked newest-first along the (reporter, id) index: ``n`` index entries at
    most, however long the reporter's history (ids are handed out in the order
    reports are made).
    """
    stmt = (
        select(Report.created_at)
        .where(Report.reporter_id == reporter_id)
        .order_by(Report.id.desc())
        .offset(n - 1)
        .limit(1)
    )
    return session.scalar(stmt)


def get(session: Session, report_id: int) -> Report | None:
    return session.get(Report, report_id)


def mine(session: Session, reporter_id: int, *, before_id: int | None, limit: int) -> list[Report]:
    stmt = (
        select(Report)
        .where(Report.reporter_id == reporter_id)
        .order_by(Report.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(Report.id < before_id)
    return list(session.scalars(stmt))


def photos_for(session: Session, report_ids: Collection[int]) -> dict[int, list[Photo]]:
    """Photos of each report, in the order they were sent."""
    if not report_ids:
        return {}
    rows = session.execute(
        select(ReportPhoto.report_id, Photo)
        .join(Photo, Photo.id == ReportPhoto.photo_id)
        .where(ReportPhoto.report_id.in_(list(report_ids)))
        .order_by(ReportPhoto.report_id, ReportPhoto.position)
    )
    out: dict[int, list[Photo]] = {}
    for report_id, photo in rows:
        out.setdefault(report_id, []).append(photo)
    return out


_R, _P, _RP = Report.__table__, Photo.__table__, ReportPhoto.__table__
# The report columns a ticket's page shows (ReportBrief), named ``report_*`` beside
# the photo's own columns.
REPORT_BRIEF_COLUMNS = tuple(
    _R.c[name].label(f"report_{name}")
    for name in (
        "id",
        "description",
        "location_source",
        "location_mismatch_m",
        "accuracy_m",
        "created_at",
    )
)

# Built once (a prebuilt statement's cache key is memoized on it); Core rows, not
# ORM objects: nothing on a ticket's page changes them.
_BRIEF_WITH_PHOTOS = (
    select(*REPORT_BRIEF_COLUMNS, *_P.c)
    .select_from(_R)
    .outerjoin(_RP, _RP.c.report_id == _R.c.id)
    .outerjoin(_P, _P.c.id == _RP.c.photo_id)
    .where(_R.c.id == bindparam("report_id"))
    .order_by(_RP.c.position)
)


def brief_with_photos(session: Session, report_id: int) -> tuple[Row[Any] | None, list[Row[Any]]]:
    """What a ticket's page shows of its report (``report_*`` columns) and the
    report's photos (rows with a photo's columns) in the order they were sent:
    one query."""
    rows = session.connection().execute(_BRIEF_WITH_PHOTOS, {"report_id": report_id}).all()
    if not rows:
        return None, []
    return rows[0], [r for r in rows if r.id is not None]


@dataclass(frozen=True, slots=True)
class BriefRow:
    """A report's brief as :func:`brief_with_photos` names its columns."""

    report_id: int
    report_description: str | None
    report_location_source: str
    report_location_mismatch_m: float | None
    report_accuracy_m: float | None
    report_created_at: datetime


@dataclass(frozen=True, slots=True)
class PhotoRow:
    """The columns of a photo that its answer reads."""

    id: str
    derivatives_status: str
    width: int | None
    height: int | None
    mime_type: str
    original_key: str
    display_key: str | None
    thumb_key: str | None


# What a ticket's page shows of each photo (``app.reports.views.PhotoLike``).
PAGE_PHOTO_COLUMNS = tuple(f.name for f in fields(PhotoRow))


def _json_object(columns: Sequence[ColumnElement[Any]], names: Sequence[str]) -> Any:
    # The keys are constants in the SQL (column names), not parameters to send.
    assert all(n.isidentifier() for n in names)
    keys = [literal_column(f"'{n}'") for n in names]
    return func.json_build_object(*(x for k, c in zip(keys, columns, strict=True) for x in (k, c)))


def brief_json_columns(
    report_id: ColumnElement[int],
) -> tuple[ScalarSelect[Any], ScalarSelect[Any]]:
    """PostgreSQL: :func:`brief_with_photos` as two JSON values of a statement that
    has ``report_id`` (correlated to it), for a read that brings the whole page at
    once; :func:`brief_from_json` reads them back."""
    brief = (
        select(_json_object(REPORT_BRIEF_COLUMNS, [c.name for c in REPORT_BRIEF_COLUMNS]))
        .where(_R.c.id == report_id)
        .scalar_subquery()
    )
    photo = _json_object([_P.c[n] for n in PAGE_PHOTO_COLUMNS], PAGE_PHOTO_COLUMNS)
    photos = (
        select(func.json_agg(aggregate_order_by(photo, _RP.c.position)))
        .select_from(_RP)
        .join(_P, _P.c.id == _RP.c.photo_id)
        .where(_RP.c.report_id == report_id)
        .scalar_subquery()
    )
    return brief, photos


def brief_from_json(
    brief: dict[str, Any], photos: list[dict[str, Any]] | None
) -> tuple[BriefRow, list[PhotoRow]]:
    """What :func:`brief_json_columns` read, as :func:`brief_with_photos` answers it."""
    brief["report_created_at"] = utc_from_json(brief["report_created_at"])
    return BriefRow(**brief), [PhotoRow(**p) for p in photos or ()]


def get_many(session: Session, ids: Collection[int]) -> list[Report]:
    if not ids:
        return []
    return list(session.scalars(select(Report).where(Report.id.in_(list(ids)))))


def insert_report(session: Session, values: dict[str, Any]) -> int:
    """Insert one report row; its id (one round trip, no ORM unit of work)."""
    report_id = session.execute(insert(Report).values(**values).returning(Report.id)).scalar_one()
    return int(report_id)


def insert_report_photos(session: Session, report_id: int, photo_ids: Sequence[str]) -> None:
    """The report's photos in the order they were sent, in one statement."""
    if photo_ids:
        session.execute(
            insert(ReportPhoto).values(
                [
                    {"report_id": report_id, "position": i, "photo_id": pid}
                    for i, pid in enumerate(photo_ids)
                ]
            )
        )
