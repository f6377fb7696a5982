"""Every file of the shared real photo set (shared/data/photos beside the repository, its README §3)
through POST /v1/reports.

The per-file sweep runs on SQLite + the local store only (the photo handling does not
depend on the backends, and each file is up to 1.6 MB); the end-to-end Guangzhou
HEIC → GPS → district test runs on both databases.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat
from sqlalchemy import func, select

from app.core.geo import CRS
from app.grids.importer import ImportOptions
from app.grids.service import import_boundaries
from app.photos.models import Photo
from app.reports.models import Report
from app.tickets.models import Ticket
from tests.grids.conftest import GUANGZHOU
from tests.reports.conftest import PENGJIANG, World

LAT, LON = PENGJIANG
# Where the data_dir fixture looks (tests/conftest.py), read at collection time to
# parametrize by file.
PHOTOS = (
    Path(
        os.environ.get(
            "GRIDFIX_TEST_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
        )
    ).resolve()
    / "photos"
)


def _manifest() -> dict[str, dict[str, str]]:
    path = PHOTOS / "MANIFEST.csv"
    if not path.is_file():  # the data_dir fixture skips these tests with a reason
        return {}
    with path.open(newline="", encoding="utf-8") as f:
        return {row["file"]: row for row in csv.DictReader(f)}


MANIFEST = _manifest()


def decodable(row: dict[str, str]) -> bool:
    return row["pillow13_pillowheif18_decode"].startswith("ok")


def big_enough(row: dict[str, str]) -> bool:
    return min(int(row["width"] or 0), int(row["height"] or 0)) >= 64


GOOD = sorted(f for f, row in MANIFEST.items() if decodable(row) and big_enough(row))
BAD = {
    "bad_truncated_scan_3484x2347.jpg": "truncated",
    "bad_not_decodable_357_bytes.jpg": "undecodable",
    "bad_heif_broken_boxes.heif": "undecodable",
    "gps_1x1_pixel_iphonexr.jpg": "too_small",
}
# Photos with a real fix outside Jiangmen (the Guangzhou one too, until Guangzhou's
# districts are imported).
ABROAD = sorted(
    f for f in GOOD if MANIFEST[f]["gps_lat"] not in ("", "0", "present-but-unparseable")
)
NO_FIX = {
    "gps_null_island_0_0_orient6_galaxy_s.jpg",  # (0, 0): a missing fix
    "gps_malformed_zero_denominator_nikon_d5000.jpg",  # 0/0 seconds: unparseable
}
# How each accepted photo looks upright (width, height), from the README.
UPRIGHT = {
    "gps_null_island_0_0_orient6_galaxy_s.jpg": (480, 640),  # orientation 6
    "gps_orient6_iphonexr_lisbon.heic": (3024, 4032),  # irot already applied
    "orient6_rotated90cw_landscape.jpg": (600, 450),  # stored 450×600, orientation 6
}


def sqlite_and_local(fn: Callable) -> Callable:
    """Run a test on one backend pair only (overrides the fixtures' params)."""
    fn = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)(fn)
    return pytest.mark.parametrize("storage_overrides", ["local"], indirect=True)(fn)


def read(data_dir: Path, name: str) -> bytes:
    return (data_dir / "photos" / name).read_bytes()


def counts(session_factory) -> tuple[int, int, int]:
    with session_factory() as s:
        return tuple(  # type: ignore[return-value]
            s.scalar(select(func.count()).select_from(m)) for m in (Report, Ticket, Photo)
        )


def all_objects(world: World) -> list[str]:
    return [o.key for o in world.client.app.state.storage.list("")]


def derivative(world: World, photo: dict, name: str = "display") -> tuple[bytes, Image.Image]:
    got = world.fetch(photo[f"{name}_url"])
    assert got.status_code == 200
    img = Image.open(io.BytesIO(got.content))
    img.load()
    return got.content, img


def jpeg_header(data: bytes) -> tuple[list[int], bytes]:
    """The markers before the first scan (where all metadata lives), and those bytes."""
    assert data[:2] == b"\xff\xd8"
    markers, pos = [], 2
    while True:
        assert data[pos] == 0xFF, f"not a marker at {pos}"
        marker = data[pos + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return markers, data[:pos]
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")


def assert_no_metadata(data: bytes, img: Image.Image) -> None:
    assert img.format == "JPEG"
    assert len(img.getexif()) == 0
    assert not {"exif", "icc_profile", "xmp", "comment"} & set(img.info)
    markers, header = jpeg_header(data)
    # Only JFIF APP0: no APP1 (EXIF, XMP), APP2 (ICC, MPF), APP13 (IPTC) ... nor comments.
    assert not [m for m in markers if 0xE1 <= m <= 0xEF or m == 0xFE], [hex(m) for m in markers]
    assert b"Exif" not in header and b"GPS" not in header
    # "Exif" anywhere (4 bytes: no chance match in the compressed data).
    assert b"Exif" not in data and b"http://ns.adobe.com" not in data


def thumbprint(img: Image.Image) -> Image.Image:
    return img.convert("L").resize((32, 24), Image.Resampling.BOX)


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    return ImageStat.Stat(ImageChops.difference(a, b)).mean[0]


def test_the_manifest_is_what_these_tests_expect(data_dir):
    assert len(MANIFEST) == 16
    assert set(GOOD) | set(BAD) == set(MANIFEST)
    assert len(GOOD) == 12
    assert set(ABROAD) == {
        "gps_guangzhou_iphone8.heic",
        "gps_iphone4_rome.jpg",
        "gps_nikon_coolpix_p6000_italy.jpg",
        "gps_nokia_lumia800_dublin_portrait.jpg",
        "gps_orient6_iphonexr_lisbon.heic",
    }
    for name, row in MANIFEST.items():
        data = read(data_dir, name)
        assert hashlib.sha256(data).hexdigest() == row["sha256"], name


# ---------------------------------------------------------------- accepted
@sqlite_and_local
@pytest.mark.parametrize("name", GOOD)
def test_a_good_photo_with_a_given_location(world, session_factory, data_dir, name):
    row = MANIFEST[name]
    data = read(data_dir, name)
    r = world.post_report(files=[(name, data)], lat=LAT, lon=LON)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["location_source"] == "given"
    assert body["ticket"]["office"]["code"] == "440703"
    # A photo taken in another country, reported from Jiangmen, is flagged for a look.
    assert body["needs_attention"] is (name in ABROAD)
    photo = body["photos"][0]
    assert photo["id"] == row["sha256"]
    expected = UPRIGHT.get(name, (int(row["width"]), int(row["height"])))
    assert (photo["width"], photo["height"]) == expected

    photo = world.wait_ready(body["id"])["photos"][0]
    assert photo["status"] == "ready"
    for kind, side in (("display", 1600), ("thumb", 320)):
        blob, img = derivative(world, photo, kind)
        assert_no_metadata(blob, img)
        assert max(img.size) == min(side, max(expected))
        # Same shape as the upright photo (never turned twice, never left lying down).
        assert (img.width > img.height) == (expected[0] > expected[1])
    # Staff get the original exactly as sent, metadata and all.
    staff = world.client.get(f"/v1/reports/{body['id']}", headers=world.headers["officer"])
    original = world.fetch(staff.json()["photos"][0]["original_url"])
    assert hashlib.sha256(original.content).hexdigest() == row["sha256"]


@sqlite_and_local
def test_orientation_6_and_3_show_the_same_upright_picture(world, data_dir):
    shown = {}
    for name in ("orient6_rotated90cw_landscape.jpg", "orient3_rotated180_landscape.jpg"):
        r = world.post_report(files=[(name, read(data_dir, name))], lat=LAT, lon=LON)
        assert r.status_code == 201, r.text
        photo = world.wait_ready(r.json()["id"])["photos"][0]
        _, img = derivative(world, photo)
        assert img.size == (600, 450)  # landscape, as the sample is meant to be seen
        shown[name] = thumbprint(img)
    six, three = shown.values()
    same = mean_abs_diff(six, three)
    # The measure has teeth: the same picture upside down is far from it.
    upside_down = mean_abs_diff(six, three.transpose(Image.Transpose.ROTATE_180))
    assert same < 8, same
    assert upside_down > 3 * same and upside_down > 15, (same, upside_down)


@sqlite_and_local
def test_lisbon_heic_is_turned_once(world, data_dir):
    """irot 270 in the container and EXIF orientation 6: pillow-heif applies irot;
    rotating again by EXIF would lay the portrait photo on its side."""
    name = "gps_orient6_iphonexr_lisbon.heic"
    r = world.post_report(files=[(name, read(data_dir, name))], lat=LAT, lon=LON)
    assert r.status_code == 201, r.text
    photo = world.wait_ready(r.json()["id"])["photos"][0]
    assert (photo["width"], photo["height"]) == (3024, 4032)
    _, img = derivative(world, photo)
    assert img.size == (1200, 1600)


# ---------------------------------------------------------------- location from the photo
@sqlite_and_local
@pytest.mark.parametrize("name", ABROAD)
def test_photo_gps_outside_jiangmen_is_outside_the_service_area(
    world, session_factory, data_dir, name
):
    r = world.post_report(files=[(name, read(data_dir, name))])
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["type"].endswith("/outside-service-area")
    assert body["errors"][0]["field"] == "photos[0]"
    assert counts(session_factory) == (0, 0, 0)
    assert all_objects(world) == []


@sqlite_and_local
@pytest.mark.parametrize("name", sorted(NO_FIX))
def test_a_photo_without_a_usable_fix_needs_a_location(world, session_factory, data_dir, name):
    """Null island and 0/0 seconds are "no fix": never routed to (0, 0) or a guess."""
    r = world.post_report(files=[(name, read(data_dir, name))])
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["type"].endswith("/validation-error")
    assert {e["field"] for e in body["errors"]} == {"lat", "lon"}
    assert all(e["reason"] == "location required" for e in body["errors"])
    assert counts(session_factory) == (0, 0, 0)
    assert all_objects(world) == []


@pytest.mark.parametrize("storage_overrides", ["local"], indirect=True)
def test_guangzhou_heic_routes_to_tianhe_by_its_gps(world, session_factory, data_dir):
    with session_factory() as s:
        import_boundaries(
            s,
            (data_dir / GUANGZHOU).read_bytes(),
            ImportOptions(crs=CRS.gcj02, code_property="adcode", level="district"),
        )
        s.commit()
    name = "gps_guangzhou_iphone8.heic"
    r = world.post_report(files=[(name, read(data_dir, name))])
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["location_source"] == "exif"
    assert body["ticket"]["office"] == {"code": "440106", "name": "天河区"}
    assert body["ticket"]["route_reason"] == "inside"
    assert body["lat"] == pytest.approx(23.177917, abs=1e-5)
    assert body["lon"] == pytest.approx(113.394317, abs=1e-5)
    assert body["given_crs"] is None and body["location_mismatch_m"] is None
    photo = world.wait_ready(body["id"])["photos"][0]
    assert photo["status"] == "ready"
    blob, img = derivative(world, photo)
    assert_no_metadata(blob, img)
    assert img.size == (1600, 1200)
    # The Jiangmen officer does not see it; nobody in Jiangmen was told.
    other = world.client.get(f"/v1/reports/{body['id']}", headers=world.headers["officer"])
    assert other.status_code == 404


# ---------------------------------------------------------------- refused
@sqlite_and_local
@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_file_is_refused_with_its_reason(world, session_factory, data_dir, name):
    r = world.post_report(files=[(name, read(data_dir, name))], lat=LAT, lon=LON)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["reason"] == BAD[name]
    assert body["errors"][0]["field"] == "photos[0]"
    assert body["errors"][0]["reason"] == BAD[name]
    assert counts(session_factory) == (0, 0, 0)
    assert all_objects(world) == []


@sqlite_and_local
def test_a_bad_second_photo_refuses_the_whole_report(world, session_factory, data_dir):
    good = read(data_dir, "no_exif_at_all.jpg")
    bad = read(data_dir, "bad_truncated_scan_3484x2347.jpg")
    r = world.post_report(files=[("a.jpg", good), ("b.jpg", bad)], lat=LAT, lon=LON)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "photos[1]"
    assert counts(session_factory) == (0, 0, 0)
    assert all_objects(world) == []
