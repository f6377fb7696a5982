"""Boundary import and point routing on real data, on both databases."""

from __future__ import annotations

import json

import pytest
import shapely
from shapely.geometry import Point, shape
from sqlalchemy import select, text

from app.core import geo
from app.core.geo import CRS
from app.grids.exceptions import BoundaryFileInvalid, OutsideServiceArea
from app.grids.importer import ImportOptions
from app.grids.models import Office
from app.grids.routing import RouteReason
from app.grids.service import import_boundaries
from tests.grids.conftest import DISTRICTS, GUANGDONG, GUANGZHOU, JIANGMEN


def _features(data_dir, rel):
    return json.loads((data_dir / rel).read_text())["features"]


def test_import_jiangmen_districts_converts_gcj02(import_file, session_factory, data_dir):
    report = import_file(JIANGMEN)
    assert sorted(report.created) == sorted(DISTRICTS)
    assert report.rejected == [] and report.repaired == []
    with session_factory() as s:
        offices = {o.code: o for o in s.scalars(select(Office))}
    assert {c: o.name for c, o in offices.items()} == DISTRICTS
    pengjiang = offices["440703"]
    # Stored in WGS-84: the stored ring sits ~0.005° west of the GCJ-02 source.
    src = shape(
        next(f for f in _features(data_dir, JIANGMEN) if f["properties"]["adcode"] == 440703)[
            "geometry"
        ]
    )
    assert src.bounds[0] - pengjiang.boundary.bounds[0] == pytest.approx(0.0053, abs=0.0006)
    assert pengjiang.area_m2 == pytest.approx(327.5e6, rel=0.01)  # README: 327.5 km²
    assert pengjiang.min_lon == pytest.approx(pengjiang.boundary.bounds[0])


def test_reimport_updates_in_place_and_bumps_version(import_file, session_factory):
    import_file(JIANGMEN)
    report = import_file(JIANGMEN)
    assert sorted(report.updated) == sorted(DISTRICTS) and report.created == []
    with session_factory() as s:
        assert {o.version for o in s.scalars(select(Office))} == {2}


def test_every_district_routes_from_a_wgs84_point(import_file, route, data_dir):
    import_file(JIANGMEN)
    for feat in _features(data_dir, JIANGMEN):
        code = str(feat["properties"]["adcode"])
        poly = shape(feat["geometry"])
        gcj = poly.representative_point()  # inside, in the file's GCJ-02
        lon, lat = geo.gcj02_to_wgs84(gcj.x, gcj.y)
        found = route(lat, lon)
        assert found.office.code == code, DISTRICTS[code]
        assert found.decision.reason is RouteReason.inside


def _point_inside_by(poly_gcj, others_gcj, inset_m: float):
    """A GCJ-02 point about inset_m inside poly whose raw WGS-84 numbers, misread
    as GCJ-02, fall in another district: the case a forgotten offset gets wrong."""
    inner = poly_gcj.buffer(-geo.metres_to_degrees(inset_m, 22.5)[1])
    ring = inner.boundary if not inner.is_empty else None
    assert ring is not None
    for frac in [i / 400 for i in range(400)]:
        p = ring.interpolate(frac, normalized=True)
        wlon, wlat = geo.gcj02_to_wgs84(p.x, p.y)
        for other_code, other in others_gcj.items():
            if other.contains(Point(wlon, wlat)):
                return p, (wlon, wlat), other_code
    raise AssertionError("no discriminating point found")


def test_point_300m_inside_border_routes_right_despite_gcj02_source(import_file, route, data_dir):
    import_file(JIANGMEN)
    polys = {
        str(f["properties"]["adcode"]): shape(f["geometry"]) for f in _features(data_dir, JIANGMEN)
    }
    target = "440704"  # Jianghai: small, with long borders to Pengjiang and Xinhui
    others = {c: p for c, p in polys.items() if c != target}
    gcj, (wlon, wlat), wrong = _point_inside_by(polys[target], others, 300)
    # The point really is ~300 m inside (distance to its own border, in metres).
    border = shapely.ops.nearest_points(polys[target].boundary, gcj)[0]
    assert 250 < geo.haversine_m(gcj.x, gcj.y, border.x, border.y) < 350
    assert route(wlat, wlon).office.code == target
    # Ignoring the offset (reading the phone's WGS-84 numbers as GCJ-02) lands elsewhere.
    assert route(wlat, wlon, CRS.gcj02).office.code == wrong != target


def test_crs_parameter_gcj02_and_bd09(import_file, route):
    import_file(JIANGMEN)
    wlon, wlat = 113.0805, 22.5802  # central Pengjiang, WGS-84
    for crs in (CRS.gcj02, CRS.bd09):
        lon, lat = geo.from_wgs84(wlon, wlat, crs)
        found = route(lat, lon, crs)
        assert found.office.code == "440703"
        assert found.lon == pytest.approx(wlon, abs=1e-7)


def test_outside_service_area_and_bad_coordinates(import_file, route):
    import_file(JIANGMEN)
    with pytest.raises(OutsideServiceArea):
        route(22.3, 114.17)  # Hong Kong
    from app.core.errors import InvalidInput

    for lat, lon in [(0.0, 0.0), (91.0, 113.0), (float("nan"), 113.0)]:
        with pytest.raises(InvalidInput):
            route(lat, lon)


def test_gap_within_tolerance_goes_to_nearest_office(import_file, route, session_factory):
    import_file(JIANGMEN)
    with session_factory() as s:
        taishan = s.scalar(select(Office).where(Office.code == "440781"))
        mainland = max(taishan.boundary.geoms, key=lambda g: g.area)
    # Walk south from the southern-most point until we are 100 m out at sea.
    ring = mainland.exterior
    south = min(ring.coords, key=lambda c: c[1])
    dlat_100 = geo.metres_to_degrees(100, south[1])[1]
    lon, lat = south[0], south[1] - dlat_100
    found = route(lat, lon)
    assert found.office.code == "440781"
    assert found.decision.reason is RouteReason.nearest
    assert 90 < found.decision.distance_m < 110
    with pytest.raises(OutsideServiceArea):
        route(south[1] - 2 * geo.metres_to_degrees(150, south[1])[1], lon)


def test_overlapping_2019_files_are_deterministic_and_flag_border(session_factory, route, data_dir):
    """The 2019 per-district files are bare arrays and overlap their neighbours."""
    codes = ["440781", "440783"]  # Taishan / Kaiping overlap by ~1 km²
    with session_factory() as s:
        for code in codes:
            raw = (data_dir / f"boundaries/datav_geoatlas_2019_tnnevol/{code}.json").read_bytes()
            rep = import_boundaries(s, raw, ImportOptions(crs=CRS.gcj02, code_property="adcode"))
            assert rep.created == [code], rep.rejected
        s.commit()
        a, b = (s.scalar(select(Office).where(Office.code == c)) for c in codes)
        overlap = shapely.intersection(a.boundary, b.boundary)
    assert overlap.area > 0
    p = overlap.representative_point()
    first = route(p.y, p.x)
    assert first.decision.reason is RouteReason.border
    assert {first.office.code, *[o.code for o in first.alternatives]} == set(codes)
    smaller = min((a, b), key=lambda o: o.area_m2).code
    assert first.office.code == smaller
    for _ in range(3):
        assert route(p.y, p.x).office.code == first.office.code


def test_invalid_geometries_repaired_or_rejected(session_factory, data_dir):
    raw = (data_dir / GUANGDONG).read_bytes()
    with session_factory() as s:
        rep = import_boundaries(s, raw, ImportOptions(crs=CRS.gcj02, code_property="adcode"))
        assert sorted(rep.repaired) == ["440600", "440800", "440900"]
        assert len(rep.created) == 21
        for code in rep.repaired:
            assert s.scalar(select(Office).where(Office.code == code)).boundary.is_valid
        s.rollback()
        rep = import_boundaries(
            s, raw, ImportOptions(crs=CRS.gcj02, code_property="adcode", repair=False)
        )
        assert sorted(p.code for p in rep.rejected) == ["440600", "440800", "440900"]
        assert all("invalid geometry" in p.reason for p in rep.rejected)
        assert len(rep.created) == 18


def test_feature_level_problems_do_not_stop_the_file(session_factory):
    square = {
        "type": "Polygon",
        "coordinates": [[[113, 22], [113.1, 22], [113.1, 22.1], [113, 22.1], [113, 22]]],
    }
    feats = [
        {"type": "Feature", "properties": {"code": "A", "name": "ok"}, "geometry": square},
        {"type": "Feature", "properties": {"name": "no code"}, "geometry": square},
        {"type": "Feature", "properties": {"code": "B"}, "geometry": None},
        {
            "type": "Feature",
            "properties": {"code": "C"},
            "geometry": {"type": "Point", "coordinates": [113, 22]},
        },
        {
            "type": "Feature",
            "properties": {"code": "D"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[12e5, 2e6], [12.1e5, 2e6], [12.1e5, 2.1e6], [12e5, 2e6]]],
            },
        },
        {"type": "Feature", "properties": {"code": "A"}, "geometry": square},
        {"type": "Feature", "properties": {"code": "E", "parent": "NOPE"}, "geometry": square},
        {"type": "Feature", "properties": {"code": "F", "parent": "E"}, "geometry": square},
        {"type": "Feature", "properties": {"code": "G", "parent": "A"}, "geometry": square},
    ]
    raw = json.dumps({"type": "FeatureCollection", "features": feats})
    with session_factory() as s:
        rep = import_boundaries(s, raw, ImportOptions(parent_property="parent"))
        s.commit()
        reasons = {p.index: p.reason for p in rep.rejected}
        assert sorted(rep.created) == ["A", "G"]
        assert "code" in reasons[1]
        assert "null" in reasons[2]
        assert "Point" in reasons[3]
        assert "out of lon/lat range" in reasons[4]
        assert "more than once" in reasons[5]
        assert "NOPE" in reasons[6]
        assert "'E'" in reasons[7]  # its parent was rejected, so it is too
        g = s.scalar(select(Office).where(Office.code == "G"))
        a = s.scalar(select(Office).where(Office.code == "A"))
        assert g.parent_id == a.id and g.depth == 1 and g.path == f"/{a.id}/{g.id}/"


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"not json", "not JSON"),
        (b'{"type": "Topology", "objects": {}}', "TopoJSON"),
        (b'{"type": "FeatureCollection", "features": []}', "no features"),
        (b'{"type": "Point", "coordinates": [1, 2]}', "expected a GeoJSON"),
    ],
)
def test_unusable_files_are_refused_whole(session_factory, raw, needle):
    with session_factory() as s, pytest.raises(BoundaryFileInvalid, match=needle):
        import_boundaries(s, raw, ImportOptions())


def test_misregistered_mca_topojson_is_refused(session_factory, data_dir):
    raw = (data_dir / "boundaries/mca_2019_bh1xuw/440700.topo.json").read_bytes()
    with session_factory() as s, pytest.raises(BoundaryFileInvalid, match="TopoJSON"):
        import_boundaries(s, raw, ImportOptions())


def test_hierarchy_and_parent_cycle(session_factory, data_dir):
    raw = (data_dir / JIANGMEN).read_bytes()
    with session_factory() as s:
        city_sq = {
            "type": "Feature",
            "properties": {"code": "440700", "name": "江门市"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[111.9, 21.5], [113.4, 21.5], [113.4, 22.9], [111.9, 22.9], [111.9, 21.5]]
                ],
            },
        }
        import_boundaries(s, json.dumps([city_sq]), ImportOptions())
        import_boundaries(
            s,
            raw,
            ImportOptions(crs=CRS.gcj02, code_property="adcode", parent_property="parent.adcode"),
        )
        s.commit()
        city = s.scalar(select(Office).where(Office.code == "440700"))
        kids = s.scalars(select(Office).where(Office.parent_id == city.id)).all()
        assert len(kids) == 7 and all(k.depth == 1 and k.path.startswith(city.path) for k in kids)
        # Make the city a child of a district: a cycle, refused.
        cyc = dict(city_sq, properties={"code": "440700", "name": "x", "parent": "440703"})
        with pytest.raises(BoundaryFileInvalid, match="cycle"):
            import_boundaries(s, json.dumps([cyc]), ImportOptions(parent_property="parent"))


def test_guangzhou_heic_location_routes_to_tianhe(session_factory, route, data_dir):
    raw = (data_dir / GUANGZHOU).read_bytes()
    with session_factory() as s:
        import_boundaries(s, raw, ImportOptions(crs=CRS.gcj02, code_property="adcode"))
        s.commit()
    found = route(23.177917, 113.394317)  # the iPhone 8 HEIC's EXIF GPS
    assert found.office.name == "天河区"


def test_spatial_queries_use_the_index(import_file, session_factory):
    import_file(JIANGMEN)
    with session_factory() as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(
                r[0]
                for r in s.execute(
                    text(
                        "EXPLAIN SELECT id FROM offices WHERE ST_DWithin(boundary, "
                        "ST_SetSRID(ST_MakePoint(113.08, 22.58), 4326), 0.002)"
                    )
                )
            )
            assert "ix_offices_boundary" in plan
        else:
            plan = " ".join(
                str(r[-1])
                for r in s.execute(
                    text(
                        "EXPLAIN QUERY PLAN SELECT o.id FROM office_rtree r JOIN offices o ON o.id = r.id "
                        "WHERE r.min_lon <= 113.09 AND r.max_lon >= 113.07 AND r.min_lat <= 22.59 AND r.max_lat >= 22.57"
                    )
                )
            )
            assert "VIRTUAL TABLE INDEX" in plan
            n = s.execute(text("SELECT count(*) FROM office_rtree")).scalar()
            assert n == 7
