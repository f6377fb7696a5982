"""Makes photo derivatives off the request path.

One thread per process, fed by a queue right after a report commits (with the
already-decoded picture, so nothing is decoded twice), plus a periodic scan
for photos still ``pending`` — the recovery path after a crash or restart, and
how a second process picks up work the first never finished. Work is
idempotent (same keys, same values), so two processes doing one photo is
harmless.
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import timedelta
from typing import cast

from PIL import Image
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.core.db import utcnow
from app.core.errors import DomainError
from app.photos import images
from app.photos.exceptions import StorageUnavailable
from app.photos.models import Photo
from app.photos.service import make_and_store_derivatives
from app.photos.storage import ObjectStorage

log = logging.getLogger("gridfix.photos.worker")

_STOP = object()


class DerivativeWorker:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        storage: ObjectStorage,
        settings: Settings,
        *,
        scan_interval_s: float = 30.0,
        scan_grace_s: float = 30.0,
    ) -> None:
        self._sessions = session_factory
        self._storage = storage
        self._settings = settings
        # Queued items hold decoded pictures (a few MB each): keep the queue short and
        # leave overflow to the scan, which re-reads the original from storage.
        self._queue: queue.Queue[object] = queue.Queue(maxsize=32)
        self._scan_interval = scan_interval_s
        self._scan_grace = timedelta(seconds=scan_grace_s)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="gridfix-derivatives", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    def enqueue(self, photo_id: str, image: Image.Image | None = None) -> None:
        """Ask for derivatives; a full queue just leaves the photo to the scan."""
        if self._thread is None:  # not running in this process: the scan elsewhere does it
            return
        try:
            self._queue.put_nowait((photo_id, image))
        except queue.Full:
            log.info("derivative queue full; %s left to the periodic scan", photo_id)

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._scan_interval)
            except queue.Empty:
                self.scan_once()
                continue
            if item is _STOP:
                return
            photo_id, image = cast(tuple[str, Image.Image | None], item)
            try:
                self.process(photo_id, image)
            except Exception:  # the thread must outlive any one photo; the scan retries
                log.exception("derivatives for %s: unexpected error", photo_id)

    def scan_once(self, limit: int = 50) -> int:
        """Process photos left pending for longer than the grace period."""
        cutoff = utcnow() - self._scan_grace
        try:
            with self._sessions() as s:
                ids = list(
                    s.scalars(
                        select(Photo.id)
                        .where(Photo.derivatives_status == "pending", Photo.created_at < cutoff)
                        .limit(limit)
                    )
                )
        except Exception:
            log.exception("derivative scan failed")
            return 0
        done = 0
        for photo_id in ids:
            done += self.process(photo_id, None)
        return done

    def process(self, photo_id: str, image: Image.Image | None) -> bool:
        """Make and store one photo's derivatives; True when it is now ready.

        A database error leaves the photo pending (it says nothing about the photo);
        only a failure to read or encode the photo itself marks it failed.
        """
        try:
            with self._sessions() as s:
                photo = s.get(Photo, photo_id)
                if photo is None or photo.derivatives_status != "pending":
                    return False
                key = photo.original_key
        except Exception:
            log.warning("database unavailable; %s stays pending", photo_id, exc_info=True)
            return False
        try:
            if image is None:
                data = self._storage.get(key)
                image = images.inspect(
                    data,
                    max_bytes=max(self._settings.max_photo_bytes, len(data)),
                    max_pixels=self._settings.max_photo_pixels,
                    min_side=1,
                ).image
            values = make_and_store_derivatives(self._storage, photo_id, image)
        except StorageUnavailable:
            log.warning("storage unavailable; %s stays pending", photo_id)
            return False
        except DomainError as exc:  # the stored original no longer decodes
            values = {"derivatives_status": "failed", "derivatives_error": exc.detail[:255]}
        except Exception as exc:
            log.exception("derivatives for %s failed", photo_id)
            values = {"derivatives_status": "failed", "derivatives_error": repr(exc)[:255]}
        try:
            with self._sessions() as s:
                s.execute(
                    update(Photo)
                    .where(Photo.id == photo_id, Photo.derivatives_status == "pending")
                    .values(**values)
                )
                s.commit()
        except Exception:
            log.warning("database unavailable; %s stays pending", photo_id, exc_info=True)
            return False
        return values.get("derivatives_status") == "ready"
