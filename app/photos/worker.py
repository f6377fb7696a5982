"""Makes photo derivatives off the request path.

One thread per process, fed by a queue right after a report commits (with the
original's bytes, or a picture a caller already decoded at working size), plus
a periodic scan for photos still ``pending`` — the recovery path after a crash
or restart, and how a second process picks up work the first never finished.
Work is idempotent (same keys, same values), so two processes doing one photo
is harmless.

The queue is bounded by count and by the memory its items hold; overflow is
left to the scan, which reads the original back from storage. The thread runs
at a lower CPU priority than the request threads (Linux: a per-thread nice
value), so under load the API answers first and derivatives catch up when it
is quieter; until then a photo says ``pending``.

Intake checks a JPEG with a reduced-scale decode, so the full decode happens
here. Should it fail, the photo is marked ``failed`` with the decoder's reason:
riders and officers see the status, officers still get the original.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
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
QUEUE_MAX_ITEMS = 64
QUEUE_MAX_BYTES = 64 * 1024 * 1024
SCAN_BATCH = 50

Work = Image.Image | bytes | None


def _weight(work: Work) -> int:
    """Bytes a queued item keeps alive."""
    if isinstance(work, bytes):
        return len(work)
    if isinstance(work, Image.Image):
        return work.width * work.height * len(work.getbands())
    return 0


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
        # Queued items hold photo bytes (or a decoded picture from callers that have
        # one): bounded by count and by bytes, overflow left to the scan.
        self._queue: queue.Queue[object] = queue.Queue(maxsize=QUEUE_MAX_ITEMS)
        self._queued_bytes = 0
        self._lock = threading.Lock()
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

    def enqueue(self, photo_id: str, work: Work = None) -> bool:
        """Ask for derivatives from the original's bytes or a picture decoded at
        working size; False when the queue is full and the photo is left to the scan."""
        if self._thread is None:  # not running in this process: the scan elsewhere does it
            return False
        weight = _weight(work)
        with self._lock:
            if self._queued_bytes + weight > QUEUE_MAX_BYTES and self._queued_bytes:
                log.info("derivative queue at its memory bound; %s left to the scan", photo_id)
                return False
            try:
                self._queue.put_nowait((photo_id, work))
            except queue.Full:
                log.info("derivative queue full; %s left to the periodic scan", photo_id)
                return False
            self._queued_bytes += weight
        return True

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def _run(self) -> None:
        # No lowered thread priority: a starved thread holding the GIL would stall the
        # request threads of its process (priority inversion); decoding is bounded instead.
        # The scan runs on its schedule under load too: a queue that never stays
        # empty for a whole interval must not keep the photos it turned away (or
        # those of a process that died) pending until the next quiet moment.
        next_scan = time.monotonic() + self._scan_interval
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, next_scan - time.monotonic()))
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            if item is not None:
                self._process_queued(cast(tuple[str, Work], item))
                del item  # release the bytes before waiting for the next item
            if time.monotonic() >= next_scan:
                found = self.scan_once()
                # A full batch: more may wait, so the next one comes after one queued item.
                next_scan = time.monotonic() + (0.0 if found >= SCAN_BATCH else self._scan_interval)

    def _process_queued(self, item: tuple[str, Work]) -> None:
        photo_id, work = item
        with self._lock:
            self._queued_bytes -= _weight(work)
        try:
            self.process(photo_id, work)
        except Exception:  # the thread must outlive any one photo; the scan retries
            log.exception("derivatives for %s: unexpected error", photo_id)

    def scan_once(self, limit: int = SCAN_BATCH) -> int:
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

    def process(self, photo_id: str, work: Work) -> bool:
        """Make and store one photo's derivatives; True when it is now ready.

        ``work`` is the original's bytes, a picture already decoded at working size,
        or None to read the original from storage. A database error leaves the
        photo pending (it says nothing about the photo); only a failure to read,
        decode or encode the photo itself marks it failed.
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
            image = work if isinstance(work, Image.Image) else None
            if image is None:
                data = work if isinstance(work, bytes) else self._storage.get(key)
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
