"""Photo use cases: accept bytes, store originals once, make derivatives later.

Order of operations for a report (see ``app.reports.service``):
1. ``check`` each photo in memory (type, limits, decode, EXIF) — nothing stored yet;
2. ``store_originals`` puts each original under a content-addressed key —
   a retry overwrites the same object instead of leaving a new orphan;
3. the caller's transaction inserts the ``Photo`` rows with the report;
4. after commit, derivatives are made off the request path (``DerivativeWorker``).

If step 3 fails, ``discard`` removes the originals this request wrote that no
committed row references; ``gridfix sweep`` removes any left by a crash.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from PIL import Image
from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.photos import images
from app.photos.models import Photo
from app.photos.storage import ObjectStorage

log = logging.getLogger("gridfix.photos")


@dataclass(slots=True)
class CheckedPhoto:
    sha256: str
    data: bytes
    facts: images.ImageFacts

    @property
    def original_key(self) -> str:
        return original_key(self.sha256)


def original_key(sha256: str) -> str:
    return f"originals/{sha256[:2]}/{sha256}"


def derivative_key(sha256: str, name: str) -> str:
    return f"derived/{sha256[:2]}/{sha256}/{name}.jpg"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 2


# Decoding is CPU-bound and a decoded picture is large (36 MB for 12 MP): more
# decodes at once than cores only adds memory, so the request threads queue here.
_DECODE_SLOTS = threading.BoundedSemaphore(_cores())


def check(
    data: bytes, settings: Settings, *, keep_image: bool = True, sha256: str | None = None
) -> CheckedPhoto:
    """Validate one photo fully in memory; raises ``PhotoRejected`` (4xx) if unusable.

    ``keep_image=False`` is the intake path: the same checks (type, limits, the
    whole compressed stream decoded, EXIF), but a JPEG is decoded at reduced scale
    and the pixels are released before returning; ``facts.image`` must not be
    used. Derivatives are then made from the bytes (see ``DerivativeWorker``).
    ``sha256`` saves hashing again when the caller already knows the digest.
    """
    with _DECODE_SLOTS:
        facts = images.inspect(
            data,
            max_bytes=settings.max_photo_bytes,
            max_pixels=settings.max_photo_pixels,
            work_px=images.DISPLAY_PX if keep_image else images.VERIFY_ONLY_PX,
        )
        if not keep_image:
            facts.image.close()  # free the pixels now, not when the request ends
    return CheckedPhoto(sha256 or images.content_key(data), data, facts)


def existing_ids(session: Session, ids: Iterable[str]) -> set[str]:
    wanted = list(set(ids))
    if not wanted:
        return set()
    return set(session.scalars(select(Photo.id).where(Photo.id.in_(wanted))))


def store_originals(
    storage: ObjectStorage,
    photos: list[CheckedPhoto],
    *,
    already_stored: set[str],
    written: list[str] | None = None,
) -> list[str]:
    """Put originals not yet stored; return the keys this call wrote (for cleanup).

    Each key is appended to ``written`` as soon as it is stored, so a caller that
    passes the list still knows what to discard when a later put fails.
    """
    written = [] if written is None else written
    for photo in photos:
        if photo.sha256 in already_stored:
            continue
        storage.put(
            photo.original_key,
            photo.data,
            content_type=photo.facts.mime_type,
            size=len(photo.data),
            private=True,
        )
        written.append(photo.original_key)
        already_stored.add(photo.sha256)
    return written


def _captured_utc(facts: images.ImageFacts) -> datetime | None:
    # A naive EXIF time is wall-clock in an unknown zone: never store it as UTC.
    if facts.captured_at is None or not facts.captured_at_offset_known:
        return None
    return facts.captured_at.astimezone(UTC)


_PHOTOS = cast(Table, Photo.__table__)


def insert_rows(session: Session, photos: list[CheckedPhoto], uploader_id: int | None) -> None:
    """Insert a ``Photo`` row per new photo in one statement; known content is left alone.

    Rows go in id order, so two transactions inserting the same photos lock them
    in the same order and cannot deadlock.
    """
    if not photos:
        return
    unique = {p.sha256: p for p in photos}
    created = datetime.now(UTC)
    rows = []
    for sha256 in sorted(unique):
        photo = unique[sha256]
        gps = photo.facts.gps
        rows.append(
            {
                "id": sha256,
                "mime_type": photo.facts.mime_type,
                "size_bytes": len(photo.data),
                "width": photo.facts.width,
                "height": photo.facts.height,
                "original_key": photo.original_key,
                "derivatives_status": "pending",
                "derivatives_error": None,
                "gps_lat": gps.lat if gps else None,
                "gps_lon": gps.lon if gps else None,
                "gps_accuracy_m": gps.horizontal_error_m if gps else None,
                "captured_at": _captured_utc(photo.facts),
                "uploaded_by": uploader_id,
                "created_at": created,
            }
        )
    dialect = session.get_bind().dialect.name
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(_PHOTOS)
    session.execute(ins.values(rows).on_conflict_do_nothing(index_elements=["id"]))


def discard(
    session_factory: sessionmaker[Session], storage: ObjectStorage, keys: list[str]
) -> None:
    """Remove originals written by a request whose transaction failed, unless a
    committed row (another request with the same photo) now references them."""
    if not keys:
        return
    try:
        with session_factory() as s:
            referenced = set(
                s.scalars(select(Photo.original_key).where(Photo.original_key.in_(keys)))
            )
        storage.delete_many([k for k in keys if k not in referenced])
    except Exception:  # the sweeper is the authority; never mask the original error
        log.warning("could not remove %d orphan object(s); the sweeper will", len(keys))


def make_and_store_derivatives(
    storage: ObjectStorage, photo_id: str, image: Image.Image
) -> dict[str, object]:
    """Encode the display and thumbnail JPEGs (no metadata) and store them publicly."""
    values: dict[str, object] = {"derivatives_status": "ready", "derivatives_error": None}
    for d in images.make_derivatives(image):
        key = derivative_key(photo_id, d.name)
        storage.put(key, d.data, content_type=d.mime_type, size=len(d.data), private=True)
        values[f"{d.name}_key"] = key
        if d.name == "display":
            values["display_width"], values["display_height"] = d.width, d.height
    return values
