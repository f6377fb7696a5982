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
from app.core.db import mark_writer
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
    """Run every housekeeping step once; pass a session with no transaction open.

    Reads and object deletions come first; the few row changes last, in one short
    write transaction of their own. On SQLite a transaction that read first and
    writes later fails at once when another writer (the API, the derivative
    worker) committed in between, and a sweep reads for as long as listing takes.
    """
    report = SweepReport()
    expired = session.execute(
        select(Upload.id, Upload.object_key).where(
            Upload.status == "pending", Upload.expires_at <= now
        )
    ).all()
    for _upload_id, object_key in expired:
        storage.delete(object_key)
        report.upload_objects_deleted += 1

    # Staging objects whose upload is no longer pending: consumed by a report, or
    # PUT late to a URL whose upload already expired. Listing the staging prefix
    # keeps this bounded by what is actually there, not by every upload ever made.
    expired_keys = {key for _, key in expired}
    for obj in storage.list("uploads/"):
        upload_id = obj.key.rsplit("/", 1)[-1]
        status = session.scalar(select(Upload.status).where(Upload.id == upload_id))
        if status == "pending" or obj.key in expired_keys:
            continue
        storage.delete(obj.key)
        report.upload_objects_deleted += 1

    cutoff = now - grace
    for prefix in ("originals/", "derived/"):
        for obj in storage.list(prefix):
            if obj.last_modified is not None and obj.last_modified > cutoff:
                continue
            # derived/<ab>/<sha>/<name>.jpg; a key off that layout names no photo (an orphan).
            parts = obj.key.split("/")
            sha = (parts[2] if len(parts) > 3 else "") if prefix == "derived/" else parts[-1]
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

    session.rollback()  # end the read transaction; writes start their own
    mark_writer(session)
    if expired:
        # Still pending: a report that took the upload meanwhile keeps it "used".
        result = session.execute(
            update(Upload)
            .where(Upload.id.in_([upload_id for upload_id, _ in expired]))
            .where(Upload.status == "pending")
            .values(status="expired")
        )
        report.uploads_expired = int(getattr(result, "rowcount", 0) or 0)
    report.idempotency_purged = idempotency.purge_expired(session, now=now)
    session.flush()
    return report
