"""Rider views: my reports (paginated), one report (who may read it), nearby open
reports (distance, filters, no reporter identity). Each database × each store."""

from __future__ import annotations

import math

import pytest

from app.core import geo
from app.core.pagination import encode_cursor
from tests.reports.conftest import PENGJIANG, XINHUI, World
from tests.support.photos import jpeg

LAT, LON = PENGJIANG
M_PER_DEG_LAT = 111_320.0


def north_of(lat: float, lon: float, metres: float) -> tuple[float, float]:
    return lat + metres / M_PER_DEG_LAT, lon


def east_of(lat: float, lon: float, metres: float) -> tuple[float, float]:
    return lat, lon + metres / (M_PER_DEG_LAT * math.cos(math.radians(lat)))


def report(
    world: World,
    who: str = "rider",
    *,
    at=PENGJIANG,
    category: str = "other",
    seed: int | None = None,
) -> dict:
    files = [("a.jpg", jpeg(seed=seed))] if seed is not None else None
    r = world.post_report(
        who, files=files, category=category, lat=at[0], lon=at[1], description=f"hazard {seed}"
    )
    assert r.status_code == 201, r.text
    return r.json()


def get(world: World, path: str, who: str | None = "rider", **params):
    headers = world.headers[who] if who else {}
    return world.client.get(path, params=params, headers=headers)


def assert_field(r, field: str, status: int = 422) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in r.json()["errors"]], r.json()


# ---------------------------------------------------------------- /mine
def test_mine_pages_newest_first(world):
    made = [report(world, seed=501 if i == 0 else None)["id"] for i in range(5)]
    report(world, "rider2")  # someone else's: never listed
    pages, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        r = get(world, "/v1/reports/mine", **params)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 5, "pagination does not end"
    newest_first = list(reversed(made))
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]
    # Items are full reports with their ticket status; riders never get originals.
    body = get(world, "/v1/reports/mine", limit=100).json()
    assert [i["id"] for i in body["items"]] == newest_first and body["next_cursor"] is None
    assert body["items"][0]["ticket"]["status"] == "new"
    first = body["items"][-1]
    assert len(first["photos"]) == 1 and first["photos"][0]["original_url"] is None


def test_mine_of_someone_with_no_reports(world):
    report(world)
    r = get(world, "/v1/reports/mine", "rider2")
    assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}


def test_mine_refuses_foreign_and_broken_cursors(world):
    for _ in range(3):
        report(world)
    offices = get(world, "/v1/grids", limit=1).json()
    assert offices["next_cursor"], offices  # a genuine cursor, of another list
    assert_field(get(world, "/v1/reports/mine", cursor=offices["next_cursor"]), "cursor")
    assert_field(get(world, "/v1/reports/mine", cursor="not-a-cursor!"), "cursor")
    assert_field(get(world, "/v1/reports/mine", cursor=encode_cursor({"k": "offices"})), "cursor")
    assert get(world, "/v1/reports/mine", limit=0).status_code == 422
    assert get(world, "/v1/reports/mine", limit=101).status_code == 422
    assert get(world, "/v1/reports/mine", None).status_code == 401


# ---------------------------------------------------------------- /{id}
def test_who_may_read_a_report(world):
    mine = report(world, category="road_damage", seed=502)
    rid = mine["id"]
    owner = get(world, f"/v1/reports/{rid}")
    assert owner.status_code == 200
    assert owner.json()["id"] == rid and owner.json()["photos"][0]["original_url"] is None

    officer = get(world, f"/v1/reports/{rid}", "officer")  # Pengjiang: the routed office
    assert officer.status_code == 200, officer.text
    url = officer.json()["photos"][0]["original_url"]
    assert url and world.fetch(url).status_code == 200

    for who in ("rider2", "officer_other", "viewer"):
        r = get(world, f"/v1/reports/{rid}", who)
        assert r.status_code == 404, (who, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        # The same answer as for an id that does not exist: nothing leaks.
        assert r.json()["detail"] == f"no report {rid}"
        missing = get(world, f"/v1/reports/{rid + 1000}", who)
        assert missing.status_code == 404 and missing.json()["detail"] == f"no report {rid + 1000}"
    assert get(world, f"/v1/reports/{rid}", None).status_code == 401
    assert get(world, "/v1/reports/0").status_code == 422
    assert get(world, "/v1/reports/abc").status_code == 422


def test_officers_see_only_their_offices_reports(world):
    xinhui = report(world, at=XINHUI)
    assert xinhui["ticket"]["office"]["code"] == "440705"
    assert get(world, f"/v1/reports/{xinhui['id']}", "officer_other").status_code == 200
    assert get(world, f"/v1/reports/{xinhui['id']}", "officer").status_code == 404


# ---------------------------------------------------------------- /nearby
def test_nearby_lists_open_reports_within_the_radius(world):
    here = report(world, category="road_damage", seed=503)
    far = report(world, at=north_of(LAT, LON, 300))
    lat, lon = north_of(LAT, LON, 30)
    r = get(world, "/v1/reports/nearby", lat=lat, lon=lon, radius=100)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [i["report_id"] for i in body["items"]] == [here["id"]]
    hit = body["items"][0]
    assert hit["distance_m"] == pytest.approx(30, abs=1.0)
    assert hit["ticket_id"] == here["ticket"]["id"]
    assert hit["category"] == "road_damage" and hit["status"] == "new"
    assert body["radius_m"] == 100
    assert body["point"] == pytest.approx({"lat": lat, "lon": lon})

    wide = get(world, "/v1/reports/nearby", lat=lat, lon=lon, radius=500).json()
    assert [i["report_id"] for i in wide["items"]] == [here["id"], far["id"]]  # nearest first
    assert wide["items"][1]["distance_m"] == pytest.approx(270, abs=2.0)
    east = east_of(LAT, LON, 80)
    sideways = get(world, "/v1/reports/nearby", lat=east[0], lon=east[1], radius=100).json()
    assert [i["distance_m"] for i in sideways["items"]] == [pytest.approx(80, abs=1.0)]


def test_nearby_never_says_who_reported(world):
    here = report(world, category="road_damage", seed=504)
    world.wait_ready(here["id"])
    body = get(world, "/v1/reports/nearby", "rider2", lat=LAT, lon=LON).json()
    assert len(body["items"]) == 1
    item = body["items"][0]
    assert set(item) == {
        "report_id",
        "ticket_id",
        "category",
        "status",
        "distance_m",
        "created_at",
        "thumb_url",
    }
    assert item["thumb_url"] and world.fetch(item["thumb_url"]).status_code == 200
    text = get(world, "/v1/reports/nearby", "rider2", lat=LAT, lon=LON).text.lower()
    for leak in ("reporter", "rider-one", "description", "hazard"):
        assert leak not in text
    # Anyone signed in may ask (it is what "already reported?" needs); nobody anonymous.
    assert get(world, "/v1/reports/nearby", "viewer", lat=LAT, lon=LON).status_code == 200
    assert get(world, "/v1/reports/nearby", None, lat=LAT, lon=LON).status_code == 401


def test_nearby_category_filter(world):
    pothole = report(world, category="road_damage", seed=505)
    tree = report(world, category="fallen_tree", seed=506)
    both = get(world, "/v1/reports/nearby", lat=LAT, lon=LON).json()
    assert {i["report_id"] for i in both["items"]} == {pothole["id"], tree["id"]}
    only = get(world, "/v1/reports/nearby", lat=LAT, lon=LON, category="fallen_tree").json()
    assert [i["report_id"] for i in only["items"]] == [tree["id"]]
    none = get(world, "/v1/reports/nearby", lat=LAT, lon=LON, category="waterlogging").json()
    assert none["items"] == []
    assert_field(get(world, "/v1/reports/nearby", lat=LAT, lon=LON, category="nope"), "category")


def test_nearby_gcj02_input_is_converted(world):
    here = report(world)
    glon, glat = geo.from_wgs84(LON, LAT, "gcj02")
    assert geo.haversine_m(LON, LAT, glon, glat) > 500  # the offset that must be removed
    body = get(world, "/v1/reports/nearby", lat=glat, lon=glon, crs="gcj02", radius=50).json()
    assert [i["report_id"] for i in body["items"]] == [here["id"]]
    assert body["items"][0]["distance_m"] < 1.0
    assert body["point"]["lat"] == pytest.approx(LAT, abs=1e-6)
    assert body["point"]["lon"] == pytest.approx(LON, abs=1e-6)
    # The same numbers read as WGS-84 are ~600 m off: nothing within 50 m.
    raw = get(world, "/v1/reports/nearby", lat=glat, lon=glon, radius=50).json()
    assert raw["items"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"radius": 501}, "radius"),  # over the configured maximum (500 m)
        ({"radius": 6000}, "radius"),  # over the hard limit
        ({"radius": 0}, "radius"),
        ({"radius": -5}, "radius"),
        ({"lat": 91}, "lat"),
        ({"lon": 181}, "lon"),
        ({"lat": 0, "lon": 0}, "lat"),
        ({"lat": "nan"}, "lat"),
        ({"crs": "utm"}, "crs"),
        ({"limit": 51}, "limit"),
    ],
)
def test_nearby_bad_parameters_name_the_field(world, params, field):
    r = get(world, "/v1/reports/nearby", **({"lat": LAT, "lon": LON} | params))
    assert_field(r, field)


def test_nearby_radius_limit_follows_the_settings(make_world):
    world = make_world(nearby_max_radius_m=50)
    report(world)
    assert_field(get(world, "/v1/reports/nearby", lat=LAT, lon=LON, radius=51), "radius")
    assert get(world, "/v1/reports/nearby", lat=LAT, lon=LON, radius=50).status_code == 200
