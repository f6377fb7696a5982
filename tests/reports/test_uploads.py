"""Direct uploads: POST /v1/uploads, PUT the bytes to the store, report with ``upload_ids``.

On each database × each object store (the local store's signed URLs are served by
the app; S3's go straight to the real SeaweedFS server).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from app.core.db import utcnow
from app.photos.models import Photo, Upload
from app.photos.service import original_key
from app.reports.models import Report
from app.tickets.models import Ticket
from tests.reports.conftest import PENGJIANG, World
from tests.support.photos import jpeg

LAT, LON = PENGJIANG


def count(session_factory, model) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(model))


def new_upload(
    world: World, who: str = "rider", *, content_type: str = "image/jpeg", size: int = 1000
) -> dict:
    r = world.client.post(
        "/v1/uploads",
        json={"content_type": content_type, "size_bytes": size},
        headers=world.headers[who],
    )
    assert r.status_code == 201, r.text
    return r.json()


def put_bytes(world: World, upload: dict, data: bytes, **headers: str) -> httpx.Response:
    """PUT to the presigned URL as a phone would: the local store's URL goes through the
    app, S3's straight to the server."""
    sent = {**upload["headers"], **headers}
    if upload["url"].startswith("http://testserver"):
        return world.client.put(upload["url"], content=data, headers=sent)
    return httpx.put(upload["url"], content=data, headers=sent)


def uploaded(world: World, data: bytes, who: str = "rider", **kw) -> str:
    """A complete direct upload of ``data``; returns its id."""
    upload = new_upload(world, who, size=len(data), **kw)
    r = put_bytes(world, upload, data)
    assert r.status_code == 200, r.text
    return upload["upload_id"]


def staging_key(session_factory, upload_id: str) -> str:
    with session_factory() as s:
        return s.scalar(select(Upload.object_key).where(Upload.id == upload_id))


def assert_field_error(r: httpx.Response, field: str, text: str | None = None) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert [e["field"] for e in body["errors"]] == [field], body
    if text is not None:
        assert text in body["errors"][0]["reason"], body


# ---------------------------------------------------------------- the happy path
def test_upload_then_report(world, session_factory):
    photo = jpeg(seed=101)
    upload = new_upload(world, size=len(photo))
    assert upload["method"] == "PUT"
    assert upload["headers"] == {"Content-Type": "image/jpeg"}
    assert put_bytes(world, upload, photo).status_code == 200
    key = staging_key(session_factory, upload["upload_id"])
    storage = world.client.app.state.storage
    assert storage.exists(key)

    r = world.post_report(upload_ids=[upload["upload_id"]], lat=LAT, lon=LON)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["ticket"]["office"]["code"] == "440703"
    assert len(body["photos"]) == 1
    assert body["photos"][0]["id"] == hashlib.sha256(photo).hexdigest()
    # The staging object is removed once the report committed (a background task that
    # has run by the time the test client returns); the original lives on.
    assert not storage.exists(key)
    assert storage.get(original_key(body["photos"][0]["id"])) == photo
    with session_factory() as s:
        row = s.get(Upload, upload["upload_id"])
        assert row.status == "used" and row.photo_id == body["photos"][0]["id"]
        assert row.used_at is not None

    ready = world.wait_ready(body["id"])
    assert ready["photos"][0]["status"] == "ready"
    got = world.fetch(ready["photos"][0]["display_url"])
    assert got.status_code == 200 and got.content[:3] == b"\xff\xd8\xff"


def test_file_and_upload_in_one_report_keep_their_order(world):
    first, second = jpeg(seed=102), jpeg(seed=103)
    uid = uploaded(world, second)
    r = world.post_report(files=[("a.jpg", first)], upload_ids=[uid], lat=LAT, lon=LON)
    assert r.status_code == 201, r.text
    assert [p["id"] for p in r.json()["photos"]] == [
        hashlib.sha256(first).hexdigest(),
        hashlib.sha256(second).hexdigest(),
    ]


def test_location_can_come_from_the_uploaded_photo(world):
    uid = uploaded(world, jpeg(seed=104, lat=LAT, lon=LON))
    r = world.post_report(upload_ids=[uid])
    assert r.status_code == 201, r.text
    assert r.json()["location_source"] == "exif"
    assert r.json()["ticket"]["office"]["code"] == "440703"


def test_retry_with_the_same_idempotency_key_replays(world, session_factory):
    """A phone that never heard the 201 resends the report with the same key: it must get
    the first answer back, not "upload already used" (the upload was consumed by it)."""
    uid = uploaded(world, jpeg(seed=105))
    key = str(uuid.uuid4())
    first = world.post_report(upload_ids=[uid], key=key, lat=LAT, lon=LON)
    assert first.status_code == 201, first.text
    again = world.post_report(upload_ids=[uid], key=key, lat=LAT, lon=LON)
    assert again.status_code == 200, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert count(session_factory, Report) == 1


# ---------------------------------------------------------------- refused ids
def test_an_upload_is_used_once(world, session_factory):
    uid = uploaded(world, jpeg(seed=110))
    assert world.post_report(upload_ids=[uid], lat=LAT, lon=LON).status_code == 201
    r = world.post_report(upload_ids=[uid], lat=LAT, lon=LON)
    assert_field_error(r, "upload_ids[0]", "already part of a report")
    assert count(session_factory, Report) == 1


def test_another_riders_upload_is_refused(world, session_factory):
    uid = uploaded(world, jpeg(seed=111), who="rider2")
    r = world.post_report(upload_ids=[uid], lat=LAT, lon=LON)
    assert_field_error(r, "upload_ids[0]", "no such upload")
    with session_factory() as s:
        assert s.get(Upload, uid).status == "pending"  # still the owner's to use
    assert world.post_report("rider2", upload_ids=[uid], lat=LAT, lon=LON).status_code == 201


def test_unknown_and_malformed_ids(world, session_factory):
    assert_field_error(
        world.post_report(upload_ids=[str(uuid.uuid4())], lat=LAT, lon=LON),
        "upload_ids[0]",
        "no such upload",
    )
    assert_field_error(
        world.post_report(upload_ids=["../../etc/passwd"], lat=LAT, lon=LON),
        "upload_ids[0]",
        "not an upload id",
    )
    uid = uploaded(world, jpeg(seed=112))
    assert_field_error(
        world.post_report(upload_ids=[uid, "nope"], lat=LAT, lon=LON),
        "upload_ids[1]",
        "not an upload id",
    )
    assert_field_error(
        world.post_report(upload_ids=[uid, uid], lat=LAT, lon=LON), "upload_ids", "twice"
    )
    assert count(session_factory, Report) == 0


def test_an_upload_with_no_bytes_yet(world, session_factory):
    upload = new_upload(world)
    r = world.post_report(upload_ids=[upload["upload_id"]], lat=LAT, lon=LON)
    assert_field_error(r, "upload_ids[0]", "no bytes")
    assert count(session_factory, Report) == 0


def test_an_expired_upload_is_refused(world, session_factory):
    uid = uploaded(world, jpeg(seed=113))
    with session_factory() as s:
        s.execute(update(Upload).where(Upload.id == uid).values(expires_at=utcnow() - timedelta(1)))
        s.commit()
    r = world.post_report(upload_ids=[uid], lat=LAT, lon=LON)
    assert_field_error(r, "upload_ids[0]", "expired")
    assert count(session_factory, Report) == 0


def test_upload_bytes_that_are_not_a_photo(world, session_factory):
    junk = b"<html><script>alert(1)</script></html>" * 40
    uid = uploaded(world, junk)
    r = world.post_report(upload_ids=[uid], lat=LAT, lon=LON)
    assert 400 <= r.status_code < 500, r.text
    body = r.json()
    assert body["errors"][0]["field"] == "upload_ids[0]"
    assert body["reason"] == "unsupported_type"
    assert count(session_factory, Report) == 0
    assert count(session_factory, Photo) == 0
    assert list(world.client.app.state.storage.list("originals/")) == []


def test_a_bad_second_upload_names_its_index(world, session_factory):
    good, bad = uploaded(world, jpeg(seed=114)), uploaded(world, jpeg(seed=115)[:5000])
    r = world.post_report(upload_ids=[good, bad], lat=LAT, lon=LON)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "upload_ids[1]"
    assert r.json()["reason"] == "truncated"
    with session_factory() as s:
        # Nothing consumed: both can still be used (the good one, at least).
        assert {u.status for u in s.scalars(select(Upload))} == {"pending"}
    assert count(session_factory, Ticket) == 0


def test_an_object_over_the_limit_is_refused(make_world, session_factory):
    """The local store refuses the oversize PUT itself; S3 cannot (a presigned PUT has no
    size limit), so the report must refuse the stored object."""
    world = make_world(max_photo_bytes=20_000)
    big = jpeg(size=(1600, 1200), seed=116, quality=95)
    assert len(big) > 20_000
    upload = new_upload(world, size=10_000)
    put = put_bytes(world, upload, big)
    if world.settings.storage_kind == "local":
        assert put.status_code == 413
        return
    assert put.status_code == 200
    r = world.post_report(upload_ids=[upload["upload_id"]], lat=LAT, lon=LON)
    assert_field_error(r, "upload_ids[0]", "limit")
    assert count(session_factory, Report) == 0


# ---------------------------------------------------------------- the upload request
def test_put_with_another_content_type_is_refused_by_the_store(world, session_factory):
    photo = jpeg(seed=120)
    upload = new_upload(world, size=len(photo))
    r = put_bytes(world, upload, photo, **{"Content-Type": "text/html"})
    assert r.status_code == 403, r.text
    storage = world.client.app.state.storage
    assert not storage.exists(staging_key(session_factory, upload["upload_id"]))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content_type": "image/gif", "size_bytes": 100}, "content_type"),
        ({"content_type": "text/html", "size_bytes": 100}, "content_type"),
        ({"content_type": "image/jpeg", "size_bytes": 15 * 1024 * 1024 + 1}, "size_bytes"),
        ({"content_type": "image/jpeg", "size_bytes": 0}, "size_bytes"),
        ({"content_type": "image/jpeg", "size_bytes": 10, "key": "x"}, "key"),
    ],
)
def test_bad_upload_requests(world, session_factory, body, field):
    r = world.client.post("/v1/uploads", json=body, headers=world.headers["rider"])
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]
    assert count(session_factory, Upload) == 0


def test_every_accepted_type_gets_a_url(world):
    for ct in ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"):
        assert new_upload(world, content_type=ct)["headers"]["Content-Type"] == ct


def test_who_may_upload(world):
    body = {"content_type": "image/jpeg", "size_bytes": 10}
    assert world.client.post("/v1/uploads", json=body).status_code == 401
    r = world.client.post("/v1/uploads", json=body, headers=world.headers["viewer"])
    assert r.status_code == 403
