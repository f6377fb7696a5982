"""GET /v1/grids/boundaries: office boundaries for maps, RFC 7946, scoped, cached."""

from __future__ import annotations

import json

import pytest
import shapely
from shapely.geometry import Point, shape
from sqlalchemy import update

from app.auth.enums import Role
from app.core import geo
from app.core.geo import CRS
from app.grids.importer import ImportOptions
from app.grids.models import Office
from app.grids.service import import_boundaries
from tests.grids.conftest import DISTRICTS, JIANGMEN
from tests.support.factories import auth_header, make_principal, token_for
from tests.tickets.conftest import City

URL = "/v1/grids/boundaries"


def get(city: City, who: str, **params):
    return city.client.get(URL, params=params, headers=city.h[who])


def codes(r) -> list[str]:
    assert r.status_code == 200, r.text
    return [f["properties"]["code"] for f in r.json()["features"]]


def test_scope_and_filters(city):
    assert codes(get(city, "viewer")) == ["d1", "d2"]  # children of the viewer's office
    assert codes(get(city, "viewer", level="grid")) == ["ga", "gb", "gc", "gd"]
    assert codes(get(city, "viewer", parent="d2")) == ["gc", "gd"]
    assert codes(get(city, "viewer", parent="d2", level="district")) == ["d2"]
    assert codes(get(city, "sup_d1")) == ["ga", "gb"]
    assert codes(get(city, "sup_d1", level="grid")) == ["ga", "gb"]
    assert codes(get(city, "off_a")) == ["ga"]  # an officer: their own office only
    assert codes(get(city, "admin")) == ["city"]  # the roots
    assert codes(get(city, "admin", level="district")) == ["d1", "d2"]
    assert codes(get(city, "viewer", level="nothing-like-this")) == []

    body = get(city, "viewer", level="grid").json()
    props = {f["properties"]["code"]: f["properties"] for f in body["features"]}
    assert props["gc"] == {"code": "gc", "name": "Grid C", "level": "grid", "parent": "d2"}
    assert get(city, "admin").json()["features"][0]["properties"]["parent"] is None


def test_outside_scope_and_bad_parameters_are_422(city):
    for who, params in [
        ("sup_d1", {"parent": "d2"}),  # exists, but not in scope: looks unknown
        ("viewer", {"parent": "nope"}),
        ("viewer", {"tolerance_m": -1}),
        ("viewer", {"tolerance_m": 2001}),
        ("viewer", {"tolerance_m": "nan"}),
    ]:
        r = get(city, who, **params)
        assert r.status_code == 422, (who, params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = get(city, "sup_d1", parent="d2")
    assert r.json()["errors"][0]["field"] == "parent"


def test_auth(city):
    assert get(city, "anon").status_code == 401
    r = get(city, "r1")
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")


def test_rfc7946_shape(city):
    r = get(city, "viewer", level="grid", tolerance_m=0)
    assert r.headers["content-type"] == "application/geo+json"
    body = r.json()
    assert body["type"] == "FeatureCollection" and "crs" not in body
    # Grid A is the box 113.00–113.01 E, 22.50–22.52 N: longitude comes first.
    assert body["bbox"] == [113.0, 22.5, 113.04, 22.52]
    ga = next(f for f in body["features"] if f["id"] == "ga")
    assert ga["type"] == "Feature" and "crs" not in ga
    assert ga["geometry"]["type"] == "MultiPolygon"
    ring = ga["geometry"]["coordinates"][0][0]
    assert {tuple(c) for c in ring} == {
        (113.0, 22.5),
        (113.01, 22.5),
        (113.01, 22.52),
        (113.0, 22.52),
    }
    geom = shape(ga["geometry"])
    assert geom.is_valid and geom.covers(Point(113.005, 22.51))
    # Right-hand rule: exterior rings counter-clockwise.
    assert all(p.exterior.is_ccw for p in geom.geoms)


def test_etag_and_304(city, session_factory):
    first = get(city, "viewer")
    tag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("private")
    headers = {**city.h["viewer"], "If-None-Match": tag}
    again = city.client.get(URL, headers=headers)
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == tag
    # Another question, or another caller with the same question, has another tag.
    assert get(city, "viewer", tolerance_m=100).headers["etag"] != tag
    assert (
        city.client.get(URL, headers={**city.h["sup_d1"], "If-None-Match": tag}).status_code == 200
    )
    # A re-imported boundary bumps the office's version: the map is stale.
    with session_factory() as s:
        s.execute(update(Office).where(Office.code == "d1").values(version=Office.version + 1))
        s.commit()
    changed = city.client.get(URL, headers=headers)
    assert changed.status_code == 200 and changed.headers["etag"] != tag


@pytest.fixture
def districts(session_factory, settings, data_dir) -> dict[str, str]:
    """Jiangmen's seven districts (DataV, GCJ-02) as root offices; an admin's header."""
    with session_factory() as s:
        report = import_boundaries(
            s,
            (data_dir / JIANGMEN).read_bytes(),
            ImportOptions(crs=CRS.gcj02, code_property="adcode", level="district"),
        )
        admin = make_principal(s, "root", Role.admin)
        s.commit()
        assert sorted(report.created) == sorted(DISTRICTS)
        return auth_header(token_for(settings, admin))


def test_real_districts_simplified_valid_and_lon_lat(client, districts, data_dir):
    h = districts
    full = client.get(URL, params={"tolerance_m": 0}, headers=h).json()
    default = client.get(URL, headers=h).json()
    coarse = client.get(URL, params={"tolerance_m": 500}, headers=h).json()
    assert sorted(f["id"] for f in default["features"]) == sorted(DISTRICTS)
    assert {f["properties"]["name"] for f in default["features"]} == set(DISTRICTS.values())

    def vertices(body):
        return sum(shapely.get_num_coordinates(shape(f["geometry"])) for f in body["features"])

    assert vertices(full) > vertices(default) > vertices(coarse)
    for body in (full, default, coarse):
        for f in body["features"]:
            assert shape(f["geometry"]).is_valid, f["id"]
    # A point well inside each district (from the GCJ-02 source file, converted)
    # lies inside the district's feature: lon/lat order and datum are right.
    source = json.loads((data_dir / JIANGMEN).read_text())["features"]
    by_code = {f["id"]: shape(f["geometry"]) for f in default["features"]}
    for feat in source:
        p = shape(feat["geometry"]).representative_point()
        lon, lat = geo.gcj02_to_wgs84(p.x, p.y)
        code = str(feat["properties"]["adcode"])
        assert by_code[code].buffer(0.002).covers(Point(lon, lat)), DISTRICTS[code]
        assert not by_code[code].covers(Point(lat, lon))
    assert len(json.dumps(default)) < len(json.dumps(full))
