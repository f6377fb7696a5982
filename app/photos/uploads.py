"""Direct uploads for weak networks: the phone asks for a presigned PUT URL,
sends the bytes straight to storage (resumable at the HTTP client's level,
never through the API process), then names the upload in its report.

The server trusts nothing the phone says about the object: at report time it
checks the upload belongs to the caller, is unused and unexpired, that the
object exists within the size limit, and runs the same photo checks as for a
multipart upload.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.actor import Actor
from app.config import Settings
from app.core.errors import InvalidInput
from app.photos.models import Upload
from app.photos.storage import ObjectStorage, PresignedUpload

ACCEPTED_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif")


@dataclass(frozen=True, slots=True)
class NewUpload:
    upload: Upload
    presigned: PresignedUpload


def _err(field_: str, reason: str) -> InvalidInput:
    return InvalidInput(f"{field_}: {reason}", errors=[{"field": field_, "reason": reason}])


def create(
    session: Session,
    storage: ObjectStorage,
    settings: Settings,
    actor: Actor,
    *,
    content_type: str,
    size_bytes: int,
    now: datetime,
) -> NewUpload:
    """Record an upload intent and presign its PUT (content type bound to the URL)."""
    if content_type not in ACCEPTED_TYPES:
        raise _err("content_type", f"must be one of {', '.join(ACCEPTED_TYPES)}")
    if size_bytes < 1 or size_bytes > settings.max_photo_bytes:
        raise _err("size_bytes", f"must be between 1 and {settings.max_photo_bytes} bytes")
    upload_id = str(uuid.uuid4())
    ttl = min(settings.upload_ttl_s, settings.presign_ttl_s * 4)
    upload = Upload(
        id=upload_id,
        principal_id=actor.id,
        object_key=f"uploads/{actor.id}/{upload_id}",
        content_type=content_type,
        max_bytes=settings.max_photo_bytes,
        status="pending",
        expires_at=now + timedelta(seconds=ttl),
        created_at=now,
    )
    session.add(upload)
    session.flush()
    presigned = storage.presigned_put(
        upload.object_key,
        content_type=content_type,
        max_bytes=settings.max_photo_bytes,
        ttl_s=ttl,
    )
    return NewUpload(upload, presigned)


def claim_for_report(
    session: Session,
    storage: ObjectStorage,
    settings: Settings,
    actor: Actor,
    upload_ids: Sequence[str],
    now: datetime,
) -> list[tuple[Upload, bytes]]:
    """Check each named upload and fetch its bytes (read phase; see ``lock_for_use``)."""
    if not upload_ids:
        return []
    if len(set(upload_ids)) != len(upload_ids):
        raise _err("upload_ids", "an upload is named twice")
    for i, uid in enumerate(upload_ids):
        try:
            uuid.UUID(uid)
        except ValueError:
            raise _err(f"upload_ids[{i}]", "not an upload id") from None
    rows = {u.id: u for u in session.scalars(select(Upload).where(Upload.id.in_(list(upload_ids))))}
    out: list[tuple[Upload, bytes]] = []
    for i, uid in enumerate(upload_ids):
        field_ = f"upload_ids[{i}]"
        upload = rows.get(uid)
        if upload is None or upload.principal_id != actor.id:
            raise _err(field_, "no such upload for this account")
        if upload.status == "used":
            raise _err(field_, "this upload is already part of a report")
        if upload.status != "pending" or upload.expires_at <= now:
            raise _err(field_, "this upload has expired; request a new one")
        info = storage.head(upload.object_key)
        if info is None:
            raise _err(field_, "no bytes were uploaded for this id yet")
        if info.size > min(upload.max_bytes, settings.max_photo_bytes):
            raise _err(
                field_,
                f"the uploaded object is {info.size} bytes; the limit is "
                f"{settings.max_photo_bytes}",
            )
        out.append((upload, storage.get(upload.object_key)))
    return out


def lock_for_use(session: Session, actor: Actor, upload_ids: Sequence[str]) -> None:
    """In the write transaction: lock the uploads and make sure they are still unused
    (a concurrent report may have taken one since the read phase)."""
    if not upload_ids:
        return
    rows = {
        u.id: u
        for u in session.scalars(
            select(Upload)
            .where(Upload.id.in_(list(upload_ids)))
            .with_for_update()
            # The read phase's objects are still in the session: refresh them.
            .execution_options(populate_existing=True)
        )
    }
    for i, uid in enumerate(upload_ids):
        upload = rows.get(uid)
        if upload is None or upload.principal_id != actor.id or upload.status != "pending":
            raise _err(f"upload_ids[{i}]", "this upload is already part of a report")


def mark_used(
    session: Session, uploads: Sequence[Upload], photo_ids: Sequence[object], now: datetime
) -> None:
    """Tie each consumed upload to the photo made from it."""
    for upload, photo in zip(uploads, photo_ids, strict=True):
        upload.status = "used"
        upload.used_at = now
        upload.photo_id = getattr(photo, "sha256", None)
