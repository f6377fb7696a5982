"""Retries never duplicate: Idempotency-Key on POST /v1/reports."""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import func, select

from app.core.idempotency_models import IdempotencyRecord
from app.reports.models import Report
from tests.reports.conftest import PENGJIANG
from tests.support.photos import jpeg


def n_reports(session_factory) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(Report))


def test_replay_returns_the_first_response(world, session_factory):
    key = str(uuid.uuid4())
    photo = jpeg(seed=30)
    first = world.post_report(files=[("a.jpg", photo)], key=key, lat=PENGJIANG[0], lon=PENGJIANG[1])
    assert first.status_code == 201
    again = world.post_report(files=[("a.jpg", photo)], key=key, lat=PENGJIANG[0], lon=PENGJIANG[1])
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert n_reports(session_factory) == 1
    with session_factory() as s:
        rec = s.scalar(select(IdempotencyRecord))
        assert (rec.expires_at - rec.created_at).total_seconds() >= 24 * 3600


def test_same_key_different_request_is_422(world, session_factory):
    key = str(uuid.uuid4())
    assert (
        world.post_report(
            files=[("a.jpg", jpeg(seed=31))], key=key, lat=PENGJIANG[0], lon=PENGJIANG[1]
        ).status_code
        == 201
    )
    other_photo = world.post_report(
        files=[("b.jpg", jpeg(seed=32))], key=key, lat=PENGJIANG[0], lon=PENGJIANG[1]
    )
    assert other_photo.status_code == 422
    assert other_photo.json()["type"].endswith("/idempotency-key-reused")
    other_text = world.post_report(
        files=[("a.jpg", jpeg(seed=31))],
        key=key,
        lat=PENGJIANG[0],
        lon=PENGJIANG[1],
        description="changed",
    )
    assert other_text.status_code == 422
    assert n_reports(session_factory) == 1


def test_keys_are_scoped_to_the_principal(world, session_factory):
    key = str(uuid.uuid4())
    photo = jpeg(seed=33)
    a = world.post_report(files=[("a.jpg", photo)], key=key, lat=PENGJIANG[0], lon=PENGJIANG[1])
    b = world.post_report(
        "rider2", files=[("a.jpg", photo)], key=key, lat=PENGJIANG[0], lon=PENGJIANG[1]
    )
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_failed_request_does_not_burn_the_key(world, session_factory):
    key = str(uuid.uuid4())
    bad = world.post_report(files=[("a.jpg", jpeg(seed=34))], key=key, lat=22.3, lon=114.17)
    assert bad.status_code == 422  # outside the service area: nothing kept, key included
    good = world.post_report(
        files=[("a.jpg", jpeg(seed=34))], key=key, lat=PENGJIANG[0], lon=PENGJIANG[1]
    )
    assert good.status_code == 201


def test_invalid_key_is_a_clear_error(world):
    r = world.post_report(
        files=[("a.jpg", jpeg(seed=35))], key="x" * 300, lat=PENGJIANG[0], lon=PENGJIANG[1]
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "Idempotency-Key"


def test_concurrent_requests_with_one_key_make_one_report(world, session_factory):
    key = str(uuid.uuid4())
    photo = jpeg(seed=36)
    results: list[int] = []
    barrier = threading.Barrier(6)

    def go() -> None:
        barrier.wait()
        r = world.post_report(files=[("a.jpg", photo)], key=key, lat=PENGJIANG[0], lon=PENGJIANG[1])
        results.append(r.status_code)

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert n_reports(session_factory) == 1
    assert results.count(201) == 1
    # Every other attempt either replayed the first (200) or was told to retry (409).
    assert all(code in (200, 201, 409) for code in results), results
    replay = world.post_report(
        files=[("a.jpg", photo)], key=key, lat=PENGJIANG[0], lon=PENGJIANG[1]
    )
    assert replay.status_code == 200


def test_upload_endpoint_is_idempotent_too(world, session_factory):
    key = str(uuid.uuid4())
    h = {**world.headers["rider"], "Idempotency-Key": key}
    body = {"content_type": "image/jpeg", "size_bytes": 1234}
    a = world.client.post("/v1/uploads", json=body, headers=h)
    b = world.client.post("/v1/uploads", json=body, headers=h)
    assert a.status_code == 201 and b.status_code == 200
    assert a.json() == b.json()
    c = world.client.post("/v1/uploads", json={**body, "size_bytes": 99}, headers=h)
    assert c.status_code == 422


class MissFirstLookup:
    """``idempotency.find`` that misses on its first call, as when a duplicate's read
    phase ran just before the first request committed."""

    def __init__(self, real) -> None:
        self.real = real
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return None if self.calls == 1 else self.real(*args, **kwargs)


def test_a_duplicate_that_missed_the_first_answer_adds_nothing(world, session_factory, monkeypatch):
    """The key is recorded last, with the response: a duplicate that got past the read
    phase inserts its rows, finds the key taken, drops its rows and replays."""
    from app.core import idempotency

    key = str(uuid.uuid4())
    photo = jpeg(seed=37)
    first = world.post_report(files=[("a.jpg", photo)], key=key, lat=PENGJIANG[0], lon=PENGJIANG[1])
    assert first.status_code == 201
    monkeypatch.setattr(idempotency, "find", MissFirstLookup(idempotency.find))
    again = world.post_report(files=[("a.jpg", photo)], key=key, lat=PENGJIANG[0], lon=PENGJIANG[1])
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert n_reports(session_factory) == 1
    storage = world.client.app.state.storage
    assert [o.key for o in storage.list("originals/")] == [
        f"originals/{first.json()['photos'][0]['id'][:2]}/{first.json()['photos'][0]['id']}"
    ]


def test_a_duplicate_over_the_rate_limit_replays_instead_of_429(
    make_world, session_factory, monkeypatch
):
    from app.core import idempotency

    world = make_world(reports_per_hour=1)
    key = str(uuid.uuid4())
    photo = jpeg(seed=38)
    first = world.post_report(files=[("a.jpg", photo)], key=key, lat=PENGJIANG[0], lon=PENGJIANG[1])
    assert first.status_code == 201
    monkeypatch.setattr(idempotency, "find", MissFirstLookup(idempotency.find))
    again = world.post_report(files=[("a.jpg", photo)], key=key, lat=PENGJIANG[0], lon=PENGJIANG[1])
    assert again.status_code == 200 and again.json() == first.json()
    other = world.post_report(
        files=[("a.jpg", jpeg(seed=39))], key=str(uuid.uuid4()), lat=PENGJIANG[0], lon=PENGJIANG[1]
    )
    assert other.status_code == 429  # a new request is still limited
    assert n_reports(session_factory) == 1
