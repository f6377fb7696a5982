"""The object store goes down during intake, then comes back.

The S3 server is killed for real (connections refused), so the answer comes from
the app's own storage adapter, its timeouts and its error mapping. A phone keeps
its Idempotency-Key and retries: it must end with exactly one report each, and
the bucket must hold exactly what the rows point at.
"""

from __future__ import annotations

import os
import signal
import time
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient

from app.core.idempotency_models import IdempotencyRecord
from app.main import create_app
from app.photos.models import Photo, Upload
from app.photos.s3 import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, TOTAL_ATTEMPTS
from app.reports.models import Report, ReportPhoto
from app.tickets.models import Ticket
from tests.faults.conftest import LAT, LON, MARKS, FaultWorld, problem_503
from tests.support.faults import kill_s3, poll, restart_s3
from tests.support.photos import jpeg

pytestmark = MARKS

# Connection refused must fail fast: two attempts and a short backoff, not 60 s timeouts.
FAST_FAIL_S = 5.0


def new_upload(client: TestClient, world: FaultWorld, size: int, key: str) -> httpx.Response:
    return client.post(
        "/v1/uploads",
        json={"content_type": "image/jpeg", "size_bytes": size},
        headers=world.headers(key=key),
    )


def put_bytes(upload: dict[str, object], data: bytes) -> httpx.Response:
    headers = upload["headers"]
    assert isinstance(headers, dict) and isinstance(upload["url"], str)
    return httpx.put(upload["url"], content=data, headers=headers, timeout=10)


def test_s3_outage_during_intake_then_retries_succeed_once(fault_world: FaultWorld) -> None:
    world = fault_world
    with TestClient(create_app(world.settings)) as client:
        # Before the outage: a direct upload whose bytes reached the store.
        early_photo = jpeg(lat=LAT, lon=LON, size=(160, 120), seed=11)
        r = new_upload(client, world, len(early_photo), str(uuid.uuid4()))
        assert r.status_code == 201, r.text
        early = r.json()
        assert put_bytes(early, early_photo).status_code == 200

        kill_s3(world.s3)

        # 1. A multipart report: refused cleanly, fast, and nothing is left behind.
        key_multipart = str(uuid.uuid4())
        data, files = world.report_form(seed=12)
        started = time.monotonic()
        r = client.post(
            "/v1/reports", data=data, files=files, headers=world.headers(key=key_multipart)
        )
        assert time.monotonic() - started < FAST_FAIL_S
        problem_503(r)
        assert r.json()["type"].endswith("/storage-unavailable")
        for model in (Report, ReportPhoto, Photo, Ticket):
            assert world.count(model) == 0, model
        # The one idempotency record is the early upload's: the refused report claimed none.
        assert world.count(IdempotencyRecord) == 1

        # 2. A report from the uploaded photo: the store cannot be read → 503, the
        #    upload stays pending and usable.
        key_from_upload = str(uuid.uuid4())
        r = client.post(
            "/v1/reports",
            data={"category": "road_damage", "upload_ids": early["upload_id"]},
            headers=world.headers(key=key_from_upload),
        )
        problem_503(r)
        with world.sessions() as s:
            assert s.get(Upload, early["upload_id"]).status == "pending"
        assert world.count(Report) == 0
        assert world.count(IdempotencyRecord) == 1

        # 3. Asking for an upload URL needs no call to the store (presigning is local):
        #    it succeeds, but the phone's PUT itself cannot reach the store until it is back.
        late_photo = jpeg(lat=LAT, lon=LON, size=(160, 120), seed=13)
        r = new_upload(client, world, len(late_photo), str(uuid.uuid4()))
        assert r.status_code == 201, r.text
        late = r.json()
        with pytest.raises(httpx.ConnectError):
            put_bytes(late, late_photo)

        # Readiness says which dependency is down.
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["storage"].startswith("unavailable")
        assert ready.json()["checks"]["database"] == "ok"

        restart_s3(world.s3)
        assert client.get("/readyz").status_code == 200

        # The same requests with the same keys now succeed, exactly once each.
        first = client.post(
            "/v1/reports", data=data, files=files, headers=world.headers(key=key_multipart)
        )
        assert first.status_code == 201, first.text
        again = client.post(
            "/v1/reports", data=data, files=files, headers=world.headers(key=key_multipart)
        )
        assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]

        form = {"category": "road_damage", "upload_ids": early["upload_id"]}
        from_upload = client.post(
            "/v1/reports", data=form, headers=world.headers(key=key_from_upload)
        )
        assert from_upload.status_code == 201, from_upload.text
        replay = client.post("/v1/reports", data=form, headers=world.headers(key=key_from_upload))
        assert replay.status_code == 200 and replay.json()["id"] == from_upload.json()["id"]

        # The URL handed out during the outage works now.
        assert put_bytes(late, late_photo).status_code == 200
        r = client.post(
            "/v1/reports",
            data={"category": "road_damage", "upload_ids": late["upload_id"]},
            headers=world.headers(key=str(uuid.uuid4())),
        )
        assert r.status_code == 201, r.text

        assert world.count(Report) == 3
        assert world.count(Ticket) == 3
        with world.sessions() as s:
            assert {u.status for u in s.query(Upload)} == {"used"}

        # Derivatives made and consumed uploads' staging objects removed: the bucket
        # then holds exactly what the rows reference — no orphan, nothing missing.
        poll("derivatives made", lambda: world.pending_derivatives() == 0, 30)
        poll(
            "bucket matches the rows",
            lambda: world.objects() == world.referenced_keys(),
            15,
        )
        assert len(world.referenced_keys()) == 3 * 3  # original, display, thumb each


def test_a_hung_s3_fails_requests_within_the_timeouts(fault_world: FaultWorld) -> None:
    """A store that accepts connections but never answers (frozen, overloaded) must
    not hold a request — and one of the API's worker threads — for long."""
    world = fault_world
    assert world.s3.process is not None
    pid = world.s3.process.pid
    # Every attempt may wait out a connect and a read timeout; plus retry backoff.
    bound = TOTAL_ATTEMPTS * (CONNECT_TIMEOUT_S + READ_TIMEOUT_S) + 3
    key = str(uuid.uuid4())
    data, files = world.report_form(seed=14)
    with TestClient(create_app(world.settings)) as client:
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            r = client.post("/v1/reports", data=data, files=files, headers=world.headers(key=key))
            elapsed = time.monotonic() - started
        finally:
            os.kill(pid, signal.SIGCONT)
        problem_503(r)
        assert READ_TIMEOUT_S <= elapsed < bound, elapsed
        print(f"\nhung store: 503 after {elapsed:.1f} s (bound {bound:.0f} s)")
        assert world.count(Report) == 0 and world.count(IdempotencyRecord) == 0

        r = client.post("/v1/reports", data=data, files=files, headers=world.headers(key=key))
        assert r.status_code == 201, r.text
        poll("derivatives made", lambda: world.pending_derivatives() == 0, 30)
        assert world.objects() == world.referenced_keys()
        assert world.count(Report) == 1
