"""The derivative worker's recovery path (``DerivativeWorker.scan_once``) on each
database × each object store: photos a crashed or absent worker left ``pending``."""

# ruff: noqa: F811

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from app.photos.exceptions import StorageUnavailable
from app.photos.models import Photo
from app.photos.service import original_key
from app.photos.worker import DerivativeWorker

# The intake world (districts, categories, riders, the app on each backend pair): its
# fixtures live in tests/reports/conftest.py, so they are imported here by name, and
# the tests' parameters of the same name "redefine" them (F811, file-wide).
from tests.reports.conftest import PENGJIANG, World, make_world  # noqa: F401
from tests.support.photos import jpeg

LAT, LON = PENGJIANG


class Unavailable:
    """The real store with some operations failing as they do when S3 is down."""

    def __init__(self, inner: Any, *failing: str) -> None:
        self.inner = inner
        self.failing = set(failing)

    def __getattr__(self, name: str) -> Any:
        if name in self.failing:

            def down(*_a: Any, **_kw: Any) -> Any:
                raise StorageUnavailable("injected: object storage is unreachable")

            return down
        return getattr(self.inner, name)


@pytest.fixture
def idle(make_world) -> World:
    """A world whose API process runs no derivative worker: photos stay pending."""
    return make_world(background_workers=False)


def worker_for(world: World, storage: Any = None, grace: float = 0) -> DerivativeWorker:
    app = world.client.app
    return DerivativeWorker(
        app.state.sessionmaker, storage or app.state.storage, world.settings, scan_grace_s=grace
    )


def report(world: World, photo: bytes) -> dict:
    r = world.post_report(files=[("a.jpg", photo)], lat=LAT, lon=LON)
    assert r.status_code == 201, r.text
    body = r.json()
    assert [p["status"] for p in body["photos"]] == ["pending"]
    return body


def photo_row(session_factory, photo_id: str) -> Photo:
    with session_factory() as s:
        return s.get(Photo, photo_id)


def test_scan_makes_derivatives_of_pending_photos(idle, session_factory):
    # Orientation 6: stored 800×600, shown upright as 600×800. The scan re-reads the
    # original from storage, so it must turn it upright itself.
    body = report(idle, jpeg(seed=401, orientation=6))
    other = report(idle, jpeg(seed=402))
    ids = [body["photos"][0]["id"], other["photos"][0]["id"]]
    assert worker_for(idle, grace=3600).scan_once() == 0  # too fresh for the scan

    assert worker_for(idle).scan_once() == 2
    storage = idle.client.app.state.storage
    for pid in ids:
        row = photo_row(session_factory, pid)
        assert row.derivatives_status == "ready" and row.derivatives_error is None
        assert row.display_key and row.thumb_key
        assert storage.exists(row.display_key) and storage.exists(row.thumb_key)
    row = photo_row(session_factory, ids[0])
    assert (row.display_width, row.display_height) == (600, 800)
    shown = idle.client.get(f"/v1/reports/{body['id']}", headers=idle.headers["rider"]).json()
    display = idle.fetch(shown["photos"][0]["display_url"])
    assert display.status_code == 200
    assert Image.open(io.BytesIO(display.content)).size == (600, 800)

    # Nothing left to do; ready photos are not redone.
    assert worker_for(idle).scan_once() == 0
    assert worker_for(idle).process(ids[0], None) is False


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda data: b"definitely not a jpeg" * 10, "not a JPEG"),
        (lambda data: data[: len(data) // 2], "ends before"),
        (None, "no object"),
    ],
    ids=["garbage", "truncated", "missing"],
)
def test_a_damaged_original_fails_with_a_reason(idle, session_factory, damage, expected):
    blob = jpeg(seed=403)
    body = report(idle, blob)
    pid = body["photos"][0]["id"]
    storage = idle.client.app.state.storage
    if damage is None:
        storage.delete(original_key(pid))
    else:
        storage.put(original_key(pid), damage(blob), content_type="image/jpeg")

    assert worker_for(idle).scan_once() == 0
    row = photo_row(session_factory, pid)
    assert row.derivatives_status == "failed"
    assert expected in row.derivatives_error
    assert row.display_key is None and row.thumb_key is None
    shown = idle.client.get(f"/v1/reports/{body['id']}", headers=idle.headers["rider"]).json()
    assert shown["photos"][0]["status"] == "failed"
    assert shown["photos"][0]["display_url"] is None
    # A failed photo is not retried by every scan.
    assert worker_for(idle).scan_once() == 0


@pytest.mark.parametrize("failing", ["get", "put"])
def test_storage_down_leaves_the_photo_pending(idle, session_factory, failing):
    pid = report(idle, jpeg(seed=404))["photos"][0]["id"]
    real = idle.client.app.state.storage
    assert worker_for(idle, Unavailable(real, failing)).scan_once() == 0
    row = photo_row(session_factory, pid)
    assert row.derivatives_status == "pending" and row.derivatives_error is None
    # Once the store is back, the next scan finishes the job.
    assert worker_for(idle).scan_once() == 1
    assert photo_row(session_factory, pid).derivatives_status == "ready"


def test_the_database_down_during_a_scan_is_not_fatal(idle, session_factory):
    report(idle, jpeg(seed=405))

    def broken():
        raise RuntimeError("injected: database unreachable")

    worker = DerivativeWorker(broken, idle.client.app.state.storage, idle.settings, scan_grace_s=0)
    assert worker.scan_once() == 0  # logged, no exception out of the worker thread
    assert worker_for(idle).scan_once() == 1


def test_the_queue_path_with_the_decoded_picture(idle, session_factory):
    """``process`` with the already-decoded picture (what the request hands over)
    stores the same kind of derivatives without reading the original back."""
    blob = jpeg(seed=406, size=(2400, 1800))
    pid = report(idle, blob)["photos"][0]["id"]
    real = idle.client.app.state.storage
    image = Image.open(io.BytesIO(blob))
    image.load()
    assert worker_for(idle, Unavailable(real, "get")).process(pid, image) is True
    row = photo_row(session_factory, pid)
    assert row.derivatives_status == "ready"
    assert max(row.display_width, row.display_height) == 1600
    with session_factory() as s:
        s.execute(update(Photo).values(derivatives_status="pending"))
        s.commit()
    # Redoing a photo writes the same keys (idempotent work).
    assert worker_for(idle).scan_once() == 1
    with session_factory() as s:
        assert s.scalar(select(Photo.display_key)) == row.display_key


class FlakyDatabase:
    """A session factory whose calls number ``failing`` (1-based) fail as when the
    database restarts; every other call opens a real session."""

    def __init__(self, inner: Any, *failing: int) -> None:
        self.inner = inner
        self.failing = set(failing)
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        if self.calls in self.failing:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("injected"))
        return self.inner()


class Outage:
    """A session factory that refuses every session while ``down`` is set."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.down = False
        self.refused = 0

    def __call__(self) -> Any:
        if self.down:
            self.refused += 1
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("injected"))
        return self.inner()


def wait_for_status(session_factory, photo_id: str, status: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        now = photo_row(session_factory, photo_id).derivatives_status
        if now == status or time.monotonic() > deadline:
            return now
        time.sleep(0.05)


def test_a_database_blip_does_not_fail_a_photo_for_good(idle, session_factory):
    """The photo's row cannot be read for a moment: that says nothing about the photo,
    so it must stay pending for the next scan, not be marked failed forever."""
    pid = report(idle, jpeg(seed=407))["photos"][0]["id"]
    app = idle.client.app
    flaky = FlakyDatabase(app.state.sessionmaker, 2)  # 1: the scan's query, 2: the read
    worker = DerivativeWorker(flaky, app.state.storage, idle.settings, scan_grace_s=0)
    assert worker.scan_once() == 0
    row = photo_row(session_factory, pid)
    assert row.derivatives_status == "pending", row.derivatives_error
    assert worker.scan_once() == 1
    assert photo_row(session_factory, pid).derivatives_status == "ready"


def test_the_worker_thread_survives_a_database_outage(idle, session_factory):
    first = report(idle, jpeg(seed=408))["photos"][0]["id"]
    second = report(idle, jpeg(seed=409))["photos"][0]["id"]
    app = idle.client.app
    database = Outage(app.state.sessionmaker)
    worker = DerivativeWorker(database, app.state.storage, idle.settings, scan_interval_s=60)
    worker.start()
    try:
        database.down = True
        worker.enqueue(first)
        deadline = time.monotonic() + 10
        while not database.refused and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)  # every session the first photo needs is refused meanwhile
        database.down = False
        worker.enqueue(second)
        assert wait_for_status(session_factory, second, "ready") == "ready"
    finally:
        worker.stop()
    assert photo_row(session_factory, first).derivatives_status == "pending"


def test_the_queue_path_from_the_original_bytes(idle, session_factory):
    """Intake hands the worker the original's bytes (its own check decoded a JPEG at
    1/8 scale and kept no pixels): the worker decodes them fully, without a GET."""
    blob = jpeg(seed=410, size=(2400, 1800), orientation=6)
    pid = report(idle, blob)["photos"][0]["id"]
    real = idle.client.app.state.storage
    assert worker_for(idle, Unavailable(real, "get")).process(pid, blob) is True
    row = photo_row(session_factory, pid)
    assert (row.display_width, row.display_height) == (1200, 1600)  # full size, upright


def test_a_photo_the_full_decode_refuses_is_failed_and_shown_as_such(idle, session_factory):
    """What the worker's full decode refuses is marked failed with the reason: the rider
    sees a failed photo with no picture, officers the same plus the original."""
    blob = jpeg(seed=411, size=(1200, 900))
    body = report(idle, blob)
    pid = body["photos"][0]["id"]
    assert worker_for(idle).process(pid, blob[: len(blob) // 2]) is False
    row = photo_row(session_factory, pid)
    assert row.derivatives_status == "failed" and "ends before" in row.derivatives_error
    path = f"/v1/reports/{body['id']}"
    rider = idle.client.get(path, headers=idle.headers["rider"]).json()["photos"][0]
    assert (rider["status"], rider["display_url"], rider["original_url"]) == ("failed", None, None)
    officer = idle.client.get(path, headers=idle.headers["officer"]).json()["photos"][0]
    assert officer["status"] == "failed" and officer["thumb_url"] is None
    assert idle.fetch(officer["original_url"]).content == blob


def test_the_queue_is_bounded_by_the_memory_it_holds(idle, session_factory, monkeypatch):
    import threading

    from app.photos import worker as worker_module

    monkeypatch.setattr(worker_module, "QUEUE_MAX_BYTES", 1000)
    started, release = threading.Event(), threading.Event()
    app = idle.client.app

    def blocking_sessions():
        started.set()
        release.wait(10)
        return app.state.sessionmaker()

    worker = DerivativeWorker(blocking_sessions, app.state.storage, idle.settings)
    worker.start()
    try:
        assert worker.enqueue("a" * 64, b"x" * 600) is True
        assert started.wait(10)  # the thread holds the first item; the queue is empty
        assert worker.queued_bytes == 0
        assert worker.enqueue("b" * 64, b"x" * 600) is True
        assert worker.enqueue("c" * 64, b"x" * 600) is False  # 1200 > 1000: left to the scan
        assert worker.queued_bytes == 600
        assert worker.enqueue("d" * 64, None) is True  # a bare id holds nothing
    finally:
        release.set()
        worker.stop()
    assert worker.queued_bytes == 0


def test_the_scan_keeps_its_schedule_while_the_queue_is_never_idle(idle, session_factory):
    """Photos the full queue turned away are left to the scan: under a steady
    trickle of new work (the queue never empty for a whole interval) the scan
    still runs on time, instead of waiting for a quiet moment that may not come."""
    turned_away = report(idle, jpeg(seed=412))["photos"][0]["id"]
    app = idle.client.app
    worker = DerivativeWorker(
        app.state.sessionmaker,
        app.state.storage,
        idle.settings,
        scan_interval_s=0.5,
        scan_grace_s=0,
    )
    worker.start()
    try:
        deadline = time.monotonic() + 10
        n = 0
        while time.monotonic() < deadline:
            # Work arrives every 0.1 s (ids of no photo: each is a quick no-op).
            worker.enqueue(f"{n:064x}")
            n += 1
            if photo_row(session_factory, turned_away).derivatives_status == "ready":
                break
            time.sleep(0.1)
    finally:
        worker.stop()
    assert photo_row(session_factory, turned_away).derivatives_status == "ready"
