"""POST /v1/reports on each database × each object store."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.categories.models import Category
from app.core import geo
from app.photos.models import Photo
from app.reports.models import Report
from app.tickets.models import Ticket, TicketEvent
from tests.reports.conftest import PENGJIANG, XINHUI
from tests.support.photos import jpeg


def count(session_factory, model) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_report_is_routed_stored_and_gets_clean_derivatives(world, session_factory):
    lat, lon = PENGJIANG
    r = world.post_report(
        files=[("a.jpg", jpeg(seed=1))], lat=lat, lon=lon, accuracy_m=8, description="big pothole"
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"/v1/reports/{body['id']}"
    assert body["ticket"]["office"]["code"] == "440703"
    assert body["ticket"]["status"] == "new" and body["ticket"]["route_reason"] == "inside"
    assert body["location_source"] == "given" and body["needs_attention"] is False
    assert body["lat"] == pytest.approx(lat) and body["lon"] == pytest.approx(lon)
    assert [p["status"] for p in body["photos"]] == ["pending"]
    assert body["photos"][0]["original_url"] is None  # riders never get the original

    ready = world.wait_ready(body["id"])
    photo = ready["photos"][0]
    assert photo["status"] == "ready"
    for name in ("thumb_url", "display_url"):
        got = world.fetch(photo[name])
        assert got.status_code == 200
        img = Image.open(io.BytesIO(got.content))
        assert img.format == "JPEG" and len(img.getexif()) == 0
        assert b"Exif" not in got.content[:4096] and b"gridfix-test" not in got.content
    # Staff in scope see the original, short-lived.
    staff = world.client.get(f"/v1/reports/{body['id']}", headers=world.headers["officer"]).json()
    original = world.fetch(staff["photos"][0]["original_url"])
    assert original.status_code == 200 and b"gridfix-test" in original.content

    with session_factory() as s:
        ticket = s.scalar(select(Ticket))
        assert ticket.report_id == body["id"] and ticket.status == "new"
        sla = s.scalar(select(Category.sla_hours).where(Category.code == "road_damage"))
        assert (ticket.due_at - ticket.created_at).total_seconds() == sla * 3600
        assert [e.kind for e in s.scalars(select(TicketEvent))] == ["created"]


def test_photo_first_location_from_exif(world):
    lat, lon = XINHUI
    r = world.post_report(files=[("gps.jpg", jpeg(lat=lat, lon=lon, seed=2))])
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["location_source"] == "exif"
    assert body["ticket"]["office"]["code"] == "440705"
    assert body["lat"] == pytest.approx(lat, abs=1e-5)


def test_given_and_exif_far_apart_is_flagged(world, session_factory):
    lat, lon = PENGJIANG
    photo = jpeg(lat=XINHUI[0], lon=XINHUI[1], seed=3)
    r = world.post_report(files=[("p.jpg", photo)], lat=lat, lon=lon)
    assert r.status_code == 201
    body = r.json()
    expected = geo.haversine_m(lon, lat, XINHUI[1], XINHUI[0])
    assert body["location_mismatch_m"] == pytest.approx(expected, abs=1)
    assert body["needs_attention"] is True
    with session_factory() as s:
        assert s.scalar(select(Ticket.needs_attention)) is True
    near = jpeg(lat=lat + 0.0003, lon=lon, seed=4)  # ~33 m away: fine
    assert (
        world.post_report(files=[("n.jpg", near)], lat=lat, lon=lon).json()["needs_attention"]
        is False
    )


def test_gcj02_and_bd09_inputs_are_converted(world):
    for i, crs in enumerate(("gcj02", "bd09")):
        glon, glat = geo.from_wgs84(PENGJIANG[1], PENGJIANG[0], crs)
        r = world.post_report(files=[("x.jpg", jpeg(seed=10 + i))], lat=glat, lon=glon, crs=crs)
        assert r.status_code == 201, r.text
        assert r.json()["lat"] == pytest.approx(PENGJIANG[0], abs=1e-7)
        assert r.json()["given_crs"] == crs


def test_same_photo_is_stored_once(world, session_factory):
    blob = jpeg(seed=5)
    for _ in range(2):
        assert (
            world.post_report(
                files=[("a.jpg", blob)], lat=PENGJIANG[0], lon=PENGJIANG[1]
            ).status_code
            == 201
        )
    assert count(session_factory, Photo) == 1
    assert count(session_factory, Report) == 2


@pytest.mark.parametrize(
    ("form", "field", "status"),
    [
        ({"category": "nope"}, "category", 422),
        ({"lat": PENGJIANG[0], "lon": None}, "lon", 422),
        ({"lat": "NaN", "lon": 113.0}, "lat", 422),
        ({"lat": 0, "lon": 0}, "lat", 422),
        ({"lat": 95, "lon": 113}, "lat", 422),
        ({"lat": 22.3, "lon": 114.17}, "lat", 422),  # Hong Kong: outside the service area
        ({"description": "x" * 2001}, "description", 422),
        ({"captured_at": "2026-11-01T10:00:00"}, "captured_at", 422),
        ({"crs": "utm"}, "crs", 422),
    ],
)
def test_bad_fields_name_the_field(world, session_factory, form, field, status):
    base = {"lat": PENGJIANG[0], "lon": PENGJIANG[1]}
    r = world.post_report(files=[("a.jpg", jpeg(seed=6))], **{**base, **form})
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in r.json().get("errors", [])], r.json()
    assert count(session_factory, Report) == 0


def test_unknown_category_lists_valid_codes(world):
    r = world.post_report(
        files=[("a.jpg", jpeg())], category="potholes", lat=PENGJIANG[0], lon=PENGJIANG[1]
    )
    assert r.status_code == 422
    assert "road_damage" in r.json()["detail"] and "manhole_cover" in r.json()["detail"]


def test_photo_count_rules(world):
    lat, lon = PENGJIANG
    r = world.post_report(lat=lat, lon=lon)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "photos"
    r = world.post_report(files=[(f"{i}.jpg", jpeg(seed=i)) for i in range(5)], lat=lat, lon=lon)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "photos"
    # "other" does not require a photo.
    r = world.post_report(category="other", lat=lat, lon=lon, description="fallen sign")
    assert r.status_code == 201, r.text
    assert r.json()["photos"] == []


def test_no_location_at_all(world):
    r = world.post_report(files=[("a.jpg", jpeg(seed=7))])
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"lat", "lon"}


def test_too_large_photo_is_413(make_world):
    world = make_world(max_photo_bytes=20_000)
    big = jpeg(size=(1600, 1200), seed=8, quality=95)
    assert len(big) > 20_000
    r = world.post_report(files=[("big.jpg", big)], lat=PENGJIANG[0], lon=PENGJIANG[1])
    assert r.status_code == 413
    assert r.json()["errors"][0]["field"] == "photos[0]"


def test_rate_limit(make_world):
    world = make_world(reports_per_hour=2)
    for i in range(2):
        assert (
            world.post_report(
                files=[("a.jpg", jpeg(seed=20 + i))], lat=PENGJIANG[0], lon=PENGJIANG[1]
            ).status_code
            == 201
        )
    r = world.post_report(files=[("a.jpg", jpeg(seed=22))], lat=PENGJIANG[0], lon=PENGJIANG[1])
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 3601
    # Another rider is not limited by the first one's reports.
    assert (
        world.post_report(
            "rider2", files=[("a.jpg", jpeg(seed=23))], lat=PENGJIANG[0], lon=PENGJIANG[1]
        ).status_code
        == 201
    )


def test_rate_limit_is_a_sliding_hour(make_world, session_factory):
    """Only the last hour counts, and Retry-After is when the report that makes the
    limit leaves the window (the limit-th latest), not when the oldest one does."""
    from datetime import timedelta

    from sqlalchemy import update

    from app.core.db import utcnow

    world = make_world(reports_per_hour=2)

    def send(seed: int) -> int:
        files = [("a.jpg", jpeg(seed=seed))]
        return world.post_report(files=files, lat=PENGJIANG[0], lon=PENGJIANG[1]).status_code

    def made_ago(report_id: int, minutes: float) -> None:
        with session_factory() as s:
            at = utcnow() - timedelta(minutes=minutes)
            s.execute(update(Report).where(Report.id == report_id).values(created_at=at))
            s.commit()

    def latest_id() -> int:
        with session_factory() as s:
            return int(s.scalar(select(func.max(Report.id))))

    assert send(30) == 201
    first = latest_id()
    assert send(31) == 201
    middle = latest_id()
    made_ago(first, 70)
    made_ago(middle, 50)
    assert send(32) == 201  # the 70-minute-old one no longer counts
    made_ago(latest_id(), 5)
    # Reports 5, 50 and 70 minutes old: the window holds two, the limit. Limited
    # until the 50-minute-old one is an hour old, in ten minutes.
    r = world.post_report(files=[("a.jpg", jpeg(seed=33))], lat=PENGJIANG[0], lon=PENGJIANG[1])
    assert r.status_code == 429
    assert 595 <= int(r.headers["retry-after"]) <= 601
    # Once it has left the window, one more is welcome.
    made_ago(middle, 61)
    assert send(34) == 201


def test_viewers_cannot_report(world):
    r = world.post_report("viewer", files=[("a.jpg", jpeg())], lat=PENGJIANG[0], lon=PENGJIANG[1])
    assert r.status_code == 403
