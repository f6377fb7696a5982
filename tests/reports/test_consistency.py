"""A report is all or nothing: rows and objects agree after a failure mid-request.

Faults are injected into the real server path (the app's own store, wrapped so its
Nth ``put`` fails the way the S3 adapter fails when the server is down; the real
ticket service made to violate a real database constraint). Each database × each store.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.core.idempotency_models import IdempotencyRecord
from app.photos.exceptions import StorageUnavailable
from app.photos.models import Photo
from app.reports import service as reports_service
from app.reports.models import Report, ReportPhoto
from app.tickets.models import Ticket, TicketEvent
from tests.reports.conftest import PENGJIANG
from tests.reports.test_uploads import staging_key, uploaded
from tests.support.photos import jpeg

LAT, LON = PENGJIANG
ROW_MODELS = (Report, ReportPhoto, Photo, Ticket, TicketEvent, IdempotencyRecord)


class FailingPuts:
    """The app's real store, except that put number ``fail_on`` (1-based) raises
    ``StorageUnavailable``, as the S3 adapter does when the server is unreachable."""

    def __init__(self, inner: Any, fail_on: int) -> None:
        self.inner = inner
        self.fail_on = fail_on
        self.puts = 0

    def put(self, key: str, data: Any, **kw: Any) -> Any:
        self.puts += 1
        if self.puts == self.fail_on:
            raise StorageUnavailable("injected: object storage is unreachable")
        return self.inner.put(key, data, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def rows(session_factory) -> dict[str, int]:
    with session_factory() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) for m in ROW_MODELS}


def keys(storage, prefix: str) -> list[str]:
    return sorted(o.key for o in storage.list(prefix))


def test_storage_failure_mid_request_leaves_nothing_and_the_retry_works(world, session_factory):
    app = world.client.app
    real = app.state.storage
    app.state.storage = failing = FailingPuts(real, fail_on=2)
    key = str(uuid.uuid4())
    files = [("a.jpg", jpeg(seed=201)), ("b.jpg", jpeg(seed=202))]
    try:
        r = world.post_report(files=files, key=key, lat=LAT, lon=LON)
    finally:
        app.state.storage = real
    assert failing.puts == 2  # the first original was written, the second failed
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/storage-unavailable")
    assert int(r.headers["retry-after"]) > 0
    assert set(rows(session_factory).values()) == {0}
    # The original written before the failure was removed again: no orphan to sweep.
    assert keys(real, "originals/") == []

    # The phone retries with the same key once the store is back: one report, once.
    again = world.post_report(files=files, key=key, lat=LAT, lon=LON)
    assert again.status_code == 201, again.text
    replay = world.post_report(files=files, key=key, lat=LAT, lon=LON)
    assert replay.status_code == 200 and replay.json() == again.json()
    counts = rows(session_factory)
    assert (counts["reports"], counts["tickets"], counts["photos"]) == (1, 1, 2)
    assert len(keys(real, "originals/")) == 2
    assert [p["status"] for p in world.wait_ready(again.json()["id"])["photos"]] == [
        "ready",
        "ready",
    ]


def test_storage_failure_on_the_first_put(world, session_factory):
    app = world.client.app
    real = app.state.storage
    app.state.storage = FailingPuts(real, fail_on=1)
    try:
        r = world.post_report(files=[("a.jpg", jpeg(seed=203))], lat=LAT, lon=LON)
    finally:
        app.state.storage = real
    assert r.status_code == 503
    assert set(rows(session_factory).values()) == {0}
    assert keys(real, "originals/") == []


def test_an_object_another_report_committed_is_never_discarded(world, session_factory):
    """Photo A is already stored by an earlier report; a new report with A and B fails
    on B's put: A's original must stay (a committed row points at it)."""
    a, b = jpeg(seed=204), jpeg(seed=205)
    first = world.post_report(files=[("a.jpg", a)], lat=LAT, lon=LON)
    assert first.status_code == 201
    app = world.client.app
    real = app.state.storage
    app.state.storage = FailingPuts(real, fail_on=1)  # A is not written again; B fails
    try:
        r = world.post_report(files=[("a.jpg", a), ("b.jpg", b)], lat=LAT, lon=LON)
    finally:
        app.state.storage = real
    assert r.status_code == 503
    assert keys(real, "originals/") == [
        f"originals/{first.json()['photos'][0]['id'][:2]}/{first.json()['photos'][0]['id']}"
    ]
    assert rows(session_factory)["reports"] == 1


def test_database_failure_after_the_objects_were_stored(world, session_factory, monkeypatch):
    """The ticket insert violates a real constraint (a second ticket for the same report)
    after the originals are in the store: 500, no rows, and the originals removed."""
    real_open_ticket = reports_service.open_ticket

    def open_two_tickets(session, **kw):
        real_open_ticket(session, **kw)
        return real_open_ticket(session, **kw)  # tickets.report_id is unique

    monkeypatch.setattr(reports_service, "open_ticket", open_two_tickets)
    # A client that returns the 500 instead of re-raising the server's exception
    # (the app's lifespan is already running under world.client).
    client = TestClient(world.client.app, raise_server_exceptions=False)
    r = client.post(
        "/v1/reports",
        data={"category": "road_damage", "lat": str(LAT), "lon": str(LON)},
        files=[
            ("photos", ("a.jpg", jpeg(seed=206), "image/jpeg")),
            ("photos", ("b.jpg", jpeg(seed=207), "image/jpeg")),
        ],
        headers={**world.headers["rider"], "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 500, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "IntegrityError" not in r.text and "UNIQUE" not in r.text.upper()
    assert set(rows(session_factory).values()) == {0}
    storage = world.client.app.state.storage
    assert keys(storage, "originals/") == []
    assert keys(storage, "derived/") == []

    monkeypatch.setattr(reports_service, "open_ticket", real_open_ticket)
    ok = world.post_report(files=[("a.jpg", jpeg(seed=206))], lat=LAT, lon=LON)
    assert ok.status_code == 201


@pytest.mark.parametrize("fail_on", [1, 2])
def test_storage_failure_with_direct_uploads_keeps_the_uploads_usable(
    world, session_factory, fail_on
):
    """Uploads named in a failed report are neither consumed nor deleted."""
    ids = [uploaded(world, jpeg(seed=210)), uploaded(world, jpeg(seed=211))]
    app = world.client.app
    real = app.state.storage
    app.state.storage = FailingPuts(real, fail_on=fail_on)
    try:
        r = world.post_report(upload_ids=ids, lat=LAT, lon=LON)
    finally:
        app.state.storage = real
    assert r.status_code == 503
    assert keys(real, "originals/") == []
    assert all(real.exists(staging_key(session_factory, uid)) for uid in ids)
    assert world.post_report(upload_ids=ids, lat=LAT, lon=LON).status_code == 201
