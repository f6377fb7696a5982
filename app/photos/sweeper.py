"""Storage housekeeping, safe to run at any time and as often as you like
(``gridfix sweep``, e.g. from cron every few minutes).

* expired direct uploads: object deleted, row marked ``expired``;
* consumed uploads: their staging object deleted (its bytes live on as a photo);
* orphans: objects under ``originals/`` and ``derived/`` that no photo row
  names, older than a grace period (a request that died between storing and
  committing, or a worker killed mid-derivative);
* expired idempotency records.

The database is the authority: an object is only removed when no committed
row points at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.core import idempotency
from app.photos.models import Photo, Upload
from app.photos.storage import ObjectStorage


@dataclass(slots=True)
class SweepReport:
    uploads_expired: int = 0
    upload_objects_deleted: int = 0
    orphans_deleted: int = 0
    idempotency_purged: int = 0


def sweep(
    session: Session,
    storage: ObjectStorage,
    *,
    now: datetime,
    grace: timedelta = timedelta(hours=1),
) -> SweepReport:
    report = SweepReport()
    expired = list(
        session.scalars(select(Upload).where(Upload.status == "pending", Upload.expires_at <= now))
    )
    for upload in expired:
        storage.delete(upload.object_key)
        report.upload_objects_deleted += 1
    if expired:
        session.execute(
            update(Upload).where(Upload.id.in_([u.id for u in expired])).values(status="expired")
        )
    report.uploads_expired = len(expired)

    used = list(session.scalars(select(Upload.object_key).where(Upload.status == "used")))
    for key in used:
        if storage.exists(key):
            storage.delete(key)
            report.upload_objects_deleted += 1

    cutoff = now - grace
    for prefix in ("originals/", "derived/"):
        for obj in storage.list(prefix):
            if obj.last_modified is not None and obj.last_modified > cutoff:
                continue
            sha = obj.key.split("/")[2] if prefix == "derived/" else obj.key.rsplit("/", 1)[-1]
            known = session.scalar(
                select(Photo.id).where(
                    Photo.id == sha,
                    or_(
                        Photo.original_key == obj.key,
                        Photo.display_key == obj.key,
                        Photo.thumb_key == obj.key,
                        Photo.derivatives_status == "pending",
                    ),
                )
            )
            if known is None:
                storage.delete(obj.key)
                report.orphans_deleted += 1
    report.idempotency_purged = idempotency.purge_expired(session, now=now)
    session.flush()
    return report
