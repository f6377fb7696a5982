"""Grid endpoints through the real app: lookup after seed-demo, import, errors,
and who may do what."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import shape

from app.auth.enums import Role
from app.core import geo
from app.seed import seed_demo
from tests.grids.conftest import DISTRICTS, JIANGMEN
from tests.support.factories import auth_header, make_office, make_principal, token_for

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[113.0, 22.5], [113.1, 22.5], [113.1, 22.6], [113.0, 22.6], [113.0, 22.5]]],
}


@pytest.fixture
def demo(session_factory, settings, data_dir):
    with session_factory() as s:
        result = seed_demo(s, data_dir, admin_password="demo-admin-password")
        s.commit()
        return {label: token_for(settings, p) for label, p in result.featured.items()}


def test_lookup_each_jiangmen_district_after_seed_demo(client, demo, data_dir):
    viewer = auth_header(demo["viewer"])
    features = json.loads((data_dir / JIANGMEN).read_text())["features"]
    for feat in features:
        code = str(feat["properties"]["adcode"])
        p = shape(feat["geometry"]).representative_point()
        lon, lat = geo.gcj02_to_wgs84(p.x, p.y)
        r = client.get("/v1/grids/lookup", params={"lat": lat, "lon": lon}, headers=viewer)
        assert r.status_code == 200, r.text
        body = r.json()
        chain = [a["code"] for a in body["ancestors"]] + [body["office"]["code"]]
        assert chain[0] == "440700"
        assert chain[1] == code, DISTRICTS[code]
        assert body["office"]["level"] == "grid"
        assert body["office"]["code"].startswith(code + "-G")
        assert body["reason"] in ("inside", "border", "nearest")
        assert body["point"] == {
            "lat": pytest.approx(lat),
            "lon": pytest.approx(lon),
            "crs": "wgs84",
        }


def test_lookup_gcj02_parameter_and_errors(client, demo):
    h = auth_header(demo["viewer"])
    lon, lat = geo.wgs84_to_gcj02(113.0805, 22.5802)
    r = client.get("/v1/grids/lookup", params={"lat": lat, "lon": lon, "crs": "gcj02"}, headers=h)
    assert r.status_code == 200 and r.json()["ancestors"][1]["code"] == "440703"

    cases = [
        ({"lat": "abc", "lon": 113}, "lat"),
        ({"lat": 95, "lon": 113}, "lat"),
        ({"lon": 113}, "lat"),
        ({"lat": 22.5, "lon": 113, "crs": "utm"}, "crs"),
        ({"lat": 0, "lon": 0}, "lat"),
    ]
    for params, field in cases:
        r = client.get("/v1/grids/lookup", params=params, headers=h)
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["status"] == 422 and body["title"] and body["detail"]
        assert field in [e["field"] for e in body["errors"]], body

    r = client.get("/v1/grids/lookup", params={"lat": 22.3, "lon": 114.17}, headers=h)
    assert r.status_code == 422
    assert r.json()["type"].endswith("/outside-service-area")


def test_list_get_ancestors(client, demo):
    h = auth_header(demo["officer (440703-G001)"])
    roots = client.get("/v1/grids", params={"roots": True}, headers=h).json()
    assert [o["code"] for o in roots["items"]] == ["440700"]
    assert roots["items"][0]["children"] == 7
    kids = client.get("/v1/grids", params={"parent": "440700", "limit": 5}, headers=h).json()
    assert len(kids["items"]) == 5 and kids["next_cursor"]
    rest = client.get(
        "/v1/grids", params={"parent": "440700", "cursor": kids["next_cursor"]}, headers=h
    ).json()
    assert {o["code"] for o in kids["items"] + rest["items"]} == set(DISTRICTS)
    assert rest["next_cursor"] is None
    one = client.get("/v1/grids/440703", params={"boundary": True}, headers=h).json()
    assert one["boundary"]["type"] == "MultiPolygon" and len(one["bbox"]) == 4
    anc = client.get("/v1/grids/440703-G001/ancestors", headers=h).json()
    assert [a["code"] for a in anc] == ["440700", "440703"]
    assert client.get("/v1/grids/nope", headers=h).status_code == 404
    bad = client.get("/v1/grids", params={"cursor": "garbage!"}, headers=h)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


def test_import_endpoint_and_dry_run(client, session_factory, data_dir, settings):
    with session_factory() as s:
        admin = make_principal(s, "boss", Role.admin)
        s.commit()
        h = auth_header(token_for(settings, admin))
    raw = (data_dir / JIANGMEN).read_bytes()
    form = {"crs": "gcj02", "code_property": "adcode", "dry_run": "true"}
    r = client.post("/v1/grids/import", data=form, files={"file": ("jm.json", raw)}, headers=h)
    assert r.status_code == 200, r.text
    assert sorted(r.json()["created"]) == sorted(DISTRICTS) and r.json()["dry_run"] is True
    assert client.get("/v1/grids", headers=h).json()["items"] == []
    form["dry_run"] = "false"
    r = client.post("/v1/grids/import", data=form, files={"file": ("jm.json", raw)}, headers=h)
    assert len(r.json()["created"]) == 7
    assert len(client.get("/v1/grids", headers=h).json()["items"]) == 7
    r = client.post("/v1/grids/import", data=form, files={"file": ("x.json", b"{nope")}, headers=h)
    assert r.status_code == 422 and "not JSON" in r.json()["detail"]
    r = client.post(
        "/v1/grids/import",
        data={**form, "parent_code": "missing"},
        files={"file": ("jm.json", raw)},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "parent_code"


@pytest.fixture
def world(session_factory, settings):
    """city ⊃ district A ⊃ grid A1, A2; district B ⊃ grid B1, with one principal per role."""
    with session_factory() as s:
        city = make_office(s, "city", "City", boundary=shape(SQUARE), level="city")
        a = make_office(s, "dist-a", "District A", city, level="district")
        b = make_office(s, "dist-b", "District B", city, level="district")
        a1 = make_office(s, "grid-a1", "Grid A1", a)
        make_office(s, "grid-a2", "Grid A2", a)
        make_office(s, "grid-b1", "Grid B1", b)
        people = {
            "admin": make_principal(s, "root", Role.admin),
            "supervisor": make_principal(s, "sup-a", Role.supervisor, a),
            "officer": make_principal(s, "off-a1", Role.officer, a1),
            "viewer": make_principal(s, "view-city", Role.viewer, city),
            "rider": make_principal(s, "rider-x", Role.rider),
        }
        s.commit()
        return {k: auth_header(token_for(settings, p)) for k, p in people.items()} | {
            "anonymous": {}
        }


# (method, path) → expected status per role; staff lists are scoped to the caller's subtree.
MATRIX = [
    (
        "GET",
        "/v1/grids/lookup?lat=22.55&lon=113.05",
        {
            "anonymous": 401,
            "rider": 200,
            "officer": 200,
            "supervisor": 200,
            "viewer": 200,
            "admin": 200,
        },
    ),
    (
        "GET",
        "/v1/grids",
        {
            "anonymous": 401,
            "rider": 200,
            "officer": 200,
            "supervisor": 200,
            "viewer": 200,
            "admin": 200,
        },
    ),
    (
        "GET",
        "/v1/grids/dist-b",
        {
            "anonymous": 401,
            "rider": 200,
            "officer": 200,
            "supervisor": 200,
            "viewer": 200,
            "admin": 200,
        },
    ),
    (
        "GET",
        "/v1/grids/grid-a1/staff",
        {
            "anonymous": 401,
            "rider": 403,
            "officer": 200,
            "supervisor": 200,
            "viewer": 403,
            "admin": 200,
        },
    ),
    (
        "GET",
        "/v1/grids/grid-a2/staff",
        {
            "anonymous": 401,
            "rider": 403,
            "officer": 404,
            "supervisor": 200,
            "viewer": 403,
            "admin": 200,
        },
    ),
    (
        "GET",
        "/v1/grids/dist-b/staff",
        {
            "anonymous": 401,
            "rider": 403,
            "officer": 404,
            "supervisor": 404,
            "viewer": 403,
            "admin": 200,
        },
    ),
    (
        "GET",
        "/v1/grids/city/staff",
        {
            "anonymous": 401,
            "rider": 403,
            "officer": 404,
            "supervisor": 404,
            "viewer": 403,
            "admin": 200,
        },
    ),
    (
        "POST",
        "/v1/grids/import",
        {
            "anonymous": 401,
            "rider": 403,
            "officer": 403,
            "supervisor": 403,
            "viewer": 403,
            "admin": 200,
        },
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX]
)
def test_authorisation_matrix(client, world, method, path, expected):
    for who, status in expected.items():
        kwargs = {}
        if method == "POST":
            fc = {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"code": "new", "name": "n"},
                        "geometry": SQUARE,
                    }
                ],
            }
            kwargs = {
                "files": {"file": ("f.json", json.dumps(fc).encode())},
                "data": {"dry_run": "true"},
            }
        r = client.request(method, path, headers=world[who], **kwargs)
        assert r.status_code == status, (who, r.status_code, r.text)
        if status >= 400:
            assert r.headers["content-type"] == "application/problem+json"


def test_officer_sees_own_staff_only(client, world):
    names = [
        p["name"] for p in client.get("/v1/grids/grid-a1/staff", headers=world["officer"]).json()
    ]
    assert names == ["off-a1"]
    # The phone and hashes never appear in a staff listing.
    body = client.get("/v1/grids/dist-a/staff", headers=world["admin"]).text
    assert "phone" not in body and "password" not in body
