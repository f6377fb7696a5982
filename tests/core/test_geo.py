"""CRS conversions, checked against published values and against real boundaries."""

import json
import math
import statistics

import pytest
import shapely
from shapely.geometry import shape
from shapely.ops import unary_union

from app.core import geo


def test_guangzhou_photo_point_matches_published_gcj02():
    # The Guangzhou HEIC's EXIF fix and its GCJ-02 value as the data README gives it.
    lon, lat = geo.wgs84_to_gcj02(113.394317, 23.177917)
    assert lon == pytest.approx(113.399844, abs=2e-6)
    assert lat == pytest.approx(23.175440, abs=2e-6)


@pytest.mark.parametrize(
    ("lon", "lat"), [(113.08, 22.58), (112.79, 22.25), (114.17, 22.32), (121.47, 31.23)]
)
def test_round_trips_are_sub_millimetre(lon, lat):
    for crs in (geo.CRS.gcj02, geo.CRS.bd09):
        back = geo.to_wgs84(*geo.from_wgs84(lon, lat, crs), crs)
        assert geo.haversine_m(lon, lat, *back) < 0.001


def test_jiangmen_offset_is_about_620_m():
    # Pengjiang centroid: README §1 gives +0.00541 lon / -0.00272 lat, 632 m.
    lon, lat = 113.078, 22.611
    glon, glat = geo.wgs84_to_gcj02(lon, lat)
    assert glon - lon == pytest.approx(0.00541, abs=0.0002)
    assert glat - lat == pytest.approx(-0.00272, abs=0.0002)
    assert 600 < geo.haversine_m(lon, lat, glon, glat) < 650


def test_outside_china_is_unchanged():
    assert geo.wgs84_to_gcj02(-9.2, 38.7) == (-9.2, 38.7)
    assert geo.gcj02_to_wgs84(12.49, 41.85) == (12.49, 41.85)


def test_haversine_one_degree_of_latitude():
    assert geo.haversine_m(0, 0, 0, 1) == pytest.approx(111_195, rel=1e-4)


@pytest.mark.parametrize(
    ("lon", "lat", "field"),
    [
        (0.0, 0.0, "lat"),
        (181.0, 10.0, "lon"),
        (10.0, -91.0, "lat"),
        (math.nan, 1.0, "lon"),
        (1.0, math.inf, "lat"),
    ],
)
def test_check_lon_lat_names_the_field(lon, lat, field):
    errors = geo.check_lon_lat(lon, lat)
    assert errors and errors[0]["field"] == field


def test_hong_kong_border_fits_datav_only_after_conversion(data_dir):
    """Official WGS-84 HK districts vs DataV (GCJ-02) HK: along the Shenzhen River
    land border the raw vertices sit ~350 m off; converted, a few tens of metres."""
    official = json.loads((data_dir / "boundaries/hk_census2001_hupili/dc_land.json").read_text())
    datav = json.loads(
        (data_dir / "boundaries/datav_geoatlas_2021_anzhou99/810000_full.json").read_text()
    )
    hk_wgs = unary_union([shape(f["geometry"]) for f in official["features"]])
    hk_gcj = unary_union([shape(f["geometry"]) for f in datav["features"]]).boundary
    # Land-border vertices: the northern edge between Sham Chun River's mouth and Sha Tau Kok.
    verts = [
        (x, y)
        for poly in getattr(hk_wgs, "geoms", [hk_wgs])
        for x, y in poly.exterior.coords
        if 113.99 <= x <= 114.22 and y >= 22.495
    ]
    assert len(verts) > 100

    def median_m(points):
        out = []
        for x, y in points:
            near = shapely.ops.nearest_points(hk_gcj, shapely.Point(x, y))[0]
            out.append(geo.haversine_m(x, y, near.x, near.y))
        return statistics.median(out)

    before = median_m(verts)
    after = median_m([geo.wgs84_to_gcj02(x, y) for x, y in verts])
    assert before > 250
    assert after < 60
