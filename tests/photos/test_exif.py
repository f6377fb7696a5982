"""EXIF parsing: the real sample photos against MANIFEST.csv, then every trap by hand.

No I/O besides reading the shared sample files; no database, no storage.
"""

from __future__ import annotations

import csv
import io
import math
import os
import random
import warnings
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from app.photos import images  # noqa: F401  (registers the HEIF opener, as the app does)
from app.photos.exif import (
    EXIF_IFD,
    GPS_IFD,
    CaptureTime,
    ExifFacts,
    parse_capture_time,
    parse_gps,
    parse_orientation,
    read_exif,
)


# ---------------------------------------------------------------- the shared photos
def _photos_dir() -> Path:
    env = os.environ.get("GRIDFIX_TEST_DATA")
    base = Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    return (base / "photos").resolve()


PHOTOS = _photos_dir()
MISSING = f"shared photo data not found at {PHOTOS} (set GRIDFIX_TEST_DATA)"


def _manifest() -> list[Any]:
    path = PHOTOS / "MANIFEST.csv"
    if not path.is_file():
        return [pytest.param(None, id="no-data", marks=pytest.mark.skip(reason=MISSING))]
    with path.open(newline="", encoding="utf-8") as f:
        return [pytest.param(row, id=row["file"]) for row in csv.DictReader(f)]


ROWS = _manifest()


def _open_header(row: dict[str, str]) -> Image.Image | None:
    try:
        return Image.open(PHOTOS / row["file"])
    except OSError:
        return None


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@pytest.mark.parametrize("row", ROWS)
def test_manifest_gps(row: dict[str, str]) -> None:
    image = _open_header(row)
    if image is None:
        # Only the 357-byte file: its header cannot be parsed, so there is no EXIF to read.
        assert row["pillow13_pillowheif18_decode"].startswith("FAIL OSError")
        return
    with image:
        gps = read_exif(image).gps
    lat, lon = _float(row["gps_lat"]), _float(row["gps_lon"])
    if lat is None or lon is None or (lat == 0 and lon == 0):
        # no GPS at all, "present-but-unparseable" (0/0 seconds) and null island
        assert gps is None
        return
    assert gps is not None
    assert gps.lat == pytest.approx(lat, abs=1e-5)
    assert gps.lon == pytest.approx(lon, abs=1e-5)
    alt = _float(row["gps_alt_m"])
    if alt is None:
        assert gps.altitude_m is None
    else:
        assert gps.altitude_m == pytest.approx(alt, abs=1e-3)
    err = _float(row["gps_hpos_err_m"])
    if err is None:
        assert gps.horizontal_error_m is None
    else:
        assert gps.horizontal_error_m == pytest.approx(err, abs=1e-3)
    assert gps.datum == (row["gps_datum"] or None)


@pytest.mark.parametrize("row", ROWS)
def test_manifest_capture_time_and_camera(row: dict[str, str]) -> None:
    image = _open_header(row)
    if image is None:
        assert row["pillow13_pillowheif18_decode"].startswith("FAIL OSError")
        return
    with image:
        facts = read_exif(image)
    assert facts.make == (row["make"] or None)
    assert facts.model == (row["model"] or None)
    if not row["datetime_original"]:
        assert facts.captured is None
        return
    assert facts.captured is not None
    expected = datetime.strptime(row["datetime_original"], "%Y:%m:%d %H:%M:%S")
    assert facts.captured.value.replace(microsecond=0, tzinfo=None) == expected


def test_offset_time_makes_the_capture_time_aware() -> None:
    if not PHOTOS.is_dir():
        pytest.skip(MISSING)
    with Image.open(PHOTOS / "nogps_iphone11pro.heic") as image:
        captured = read_exif(image).captured
    assert captured == CaptureTime(
        datetime(2020, 5, 4, 18, 39, 11, 644_000, tzinfo=timezone(timedelta(hours=-4))),
        offset_known=True,
    )
    assert captured.value.astimezone(UTC).hour == 22


def test_naive_capture_time_is_flagged() -> None:
    if not PHOTOS.is_dir():
        pytest.skip(MISSING)
    with Image.open(PHOTOS / "gps_guangzhou_iphone8.heic") as image:
        captured = read_exif(image).captured
    assert captured is not None
    assert captured.offset_known is False
    assert captured.value.tzinfo is None
    assert captured.value == datetime(2018, 2, 5, 15, 11, 44, 277_000)  # SubSecTimeOriginal 277


def test_gps_time_stamp_is_utc() -> None:
    if not PHOTOS.is_dir():
        pytest.skip(MISSING)
    with Image.open(PHOTOS / "gps_guangzhou_iphone8.heic") as image:
        gps = read_exif(image).gps
    assert gps is not None
    # 07:11:43.07 UTC is 15:11 in Guangzhou (UTC+8): the naive capture time above.
    assert gps.timestamp == datetime(2018, 2, 5, 7, 11, 43, 70_000, tzinfo=UTC)


# ---------------------------------------------------------------- parse_gps by hand
def r(num: int, den: int = 1) -> IFDRational:
    return IFDRational(num, den)


def dms(d: int, m: int, s_num: int, s_den: int = 100) -> tuple[IFDRational, ...]:
    return (r(d), r(m), r(s_num, s_den))


JIANGMEN = {1: "N", 2: dms(22, 34, 4800), 3: "E", 4: dms(113, 4, 3360)}  # 22.58, 113.076


def test_a_plain_fix() -> None:
    gps = parse_gps(JIANGMEN)
    assert gps is not None
    assert (gps.lat, gps.lon) == pytest.approx((22.58, 113.076), abs=1e-9)
    assert (gps.altitude_m, gps.horizontal_error_m, gps.datum, gps.timestamp) == (None,) * 4


@pytest.mark.parametrize(
    ("lat_ref", "lon_ref", "signs"),
    [
        ("N", "E", (1, 1)),
        ("S", "E", (-1, 1)),
        ("N", "W", (1, -1)),
        ("S", "W", (-1, -1)),
        (b"S\x00", b"W\x00", (-1, -1)),  # BYTE-typed refs with a NUL
        ("s ", "w", (-1, -1)),  # lower case, padded
    ],
)
def test_hemisphere_refs_set_the_sign(lat_ref: Any, lon_ref: Any, signs: tuple[int, int]) -> None:
    gps = parse_gps({**JIANGMEN, 1: lat_ref, 3: lon_ref})
    assert gps is not None
    assert (gps.lat, gps.lon) == pytest.approx((signs[0] * 22.58, signs[1] * 113.076))


@pytest.mark.parametrize(
    "change",
    [
        {2: (r(22), r(34), r(0, 0))},  # 0/0 seconds, as the Nikon D5000 sample
        {4: (r(113), r(4), r(36, 0))},  # n/0
        {2: (r(22, 0), r(34), r(48))},  # zero denominator in the degrees
        {2: (22.0, float("nan"), 48.0)},
        {4: (float("inf"), 0.0, 0.0)},
        {2: dms(91, 0, 0)},  # latitude beyond 90
        {4: dms(181, 0, 0)},  # longitude beyond 180
        {2: (r(22), r(61), r(0))},  # minutes out of range
        {4: (r(113), r(4), r(6100, 100))},  # seconds out of range
        {2: (r(-22), r(34), r(48))},  # a negative part: sign would be guessed
        {1: None},  # no latitude ref
        {3: "X"},  # nonsense longitude ref
        {1: "E"},  # a longitude ref on the latitude
        {2: None},
        {4: ()},
        {4: (r(1), r(2), r(3), r(4))},
        {2: "22.58"},  # a string where rationals belong
        {2: (True, 0, 0)},
        {9: "V"},  # GPSStatus: measurement void
    ],
)
def test_anything_doubtful_makes_the_whole_fix_absent(change: dict[int, Any]) -> None:
    ifd = {k: v for k, v in {**JIANGMEN, **change}.items() if v is not None}
    assert parse_gps(ifd) is None


def test_null_island_is_no_fix_but_the_equator_is_a_place() -> None:
    zero = dms(0, 0, 0)
    assert parse_gps({1: "N", 2: zero, 3: "E", 4: zero}) is None
    assert parse_gps({1: "S", 2: zero, 3: "W", 4: zero}) is None
    on_equator = parse_gps({1: "N", 2: zero, 3: "E", 4: dms(10, 0, 0)})
    assert on_equator is not None
    assert (on_equator.lat, on_equator.lon) == (0.0, 10.0)


def test_active_status_and_decimal_degrees_are_accepted() -> None:
    gps = parse_gps({**JIANGMEN, 9: "A", 2: r(2258, 100), 4: (r(113076, 1000),)})
    assert gps is not None
    assert (gps.lat, gps.lon) == pytest.approx((22.58, 113.076))


@pytest.mark.parametrize(
    ("alt", "ref", "expected"),
    [
        (r(428, 10), b"\x00", 42.8),
        (r(428, 10), None, 42.8),  # no ref: above sea level by the spec's default
        (r(15, 1), b"\x01", -15.0),  # below sea level (Dead Sea, underground car parks)
        (r(15, 1), 1, -15.0),
        (r(15, 1), b"\x02", None),  # unknown ref: drop the altitude, keep the fix
        (r(1, 0), b"\x00", None),
        (r(-5, 1), b"\x00", None),
        (r(10**9, 1), b"\x00", None),
    ],
)
def test_altitude(alt: Any, ref: Any, expected: float | None) -> None:
    ifd = {**JIANGMEN, 6: alt} | ({5: ref} if ref is not None else {})
    gps = parse_gps(ifd)
    assert gps is not None
    assert gps.altitude_m == (pytest.approx(expected) if expected is not None else None)


def test_extras_are_validated_one_by_one() -> None:
    gps = parse_gps(
        {
            **JIANGMEN,
            18: "WGS-84   \x00",
            31: r(-5),  # a negative error is nonsense: dropped
            29: "2024:02:30",  # no such day: dropped
            7: dms(1, 2, 300),
        }
    )
    assert gps is not None
    assert (gps.datum, gps.horizontal_error_m, gps.timestamp) == ("WGS-84", None, None)
    gps = parse_gps({**JIANGMEN, 31: r(5), 29: "2024:02:29", 7: dms(23, 59, 5950)})
    assert gps is not None
    assert gps.horizontal_error_m == 5.0
    assert gps.timestamp == datetime(2024, 2, 29, 23, 59, 59, 500_000, tzinfo=UTC)


def test_random_garbage_never_raises() -> None:
    rng = random.Random(20240601)
    pool: list[Any] = [
        None, "", "N", "S", "E", "W", "V", b"\x00", b"\x01", b"", 0, 1, -1, 2**40, 0.0,
        float("nan"), float("inf"), r(0, 0), r(1, 0), r(3, 7), (), (r(1),), (r(1), r(2)),
        dms(12, 3, 4), (r(1), "x", None), [1, 2, 3], {"a": 1}, object(), "2024:13:45",
    ]  # fmt: skip
    for _ in range(2000):
        ifd = {tag: rng.choice(pool) for tag in rng.sample(range(32), rng.randint(0, 12))}
        gps = parse_gps(ifd)
        if gps is not None:
            assert -90 <= gps.lat <= 90 and -180 <= gps.lon <= 180
            assert (gps.lat, gps.lon) != (0.0, 0.0)
            assert all(math.isfinite(v) for v in (gps.lat, gps.lon))


# ---------------------------------------------------------------- capture time by hand
@pytest.mark.parametrize(
    ("ifd", "expected"),
    [
        ({0x9003: "2024:06:01 08:30:00"}, CaptureTime(datetime(2024, 6, 1, 8, 30), False)),
        (
            {0x9003: "2024:06:01 08:30:00", 0x9011: "+08:00", 0x9291: "5"},
            CaptureTime(
                datetime(2024, 6, 1, 8, 30, 0, 500_000, tzinfo=timezone(timedelta(hours=8))), True
            ),
        ),
        (
            {0x9003: "2024:06:01 08:30:00\x00", 0x9011: "-09:30"},
            CaptureTime(
                datetime(2024, 6, 1, 8, 30, tzinfo=timezone(-timedelta(hours=9, minutes=30))),
                True,
            ),
        ),
        # a malformed offset leaves the time naive rather than guessing a zone
        ({0x9003: "2024:06:01 08:30:00", 0x9011: "+25:00"}, CaptureTime(datetime(2024, 6, 1, 8, 30), False)),
        ({0x9003: "2024:06:01 08:30:00", 0x9011: "UTC"}, CaptureTime(datetime(2024, 6, 1, 8, 30), False)),
        # blank original: fall back to DateTimeDigitized with its own offset
        (
            {0x9003: "0000:00:00 00:00:00", 0x9004: "2024:06:01 08:30:00", 0x9012: "+00:00"},
            CaptureTime(datetime(2024, 6, 1, 8, 30, tzinfo=UTC), True),
        ),
        ({0x9003: "2024:02:30 08:30:00"}, None),
        ({0x9003: "    :  :     :  :  "}, None),
        ({0x9003: 20240601}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_capture_time(ifd: dict[int, Any], expected: CaptureTime | None) -> None:
    assert parse_capture_time(ifd) == expected


@pytest.mark.parametrize(("value", "expected"), [(6, 6), (1, 1), (0, None), (9, None), ("6", None), (True, None), (None, None)])  # fmt: skip
def test_orientation_values(value: Any, expected: int | None) -> None:
    assert parse_orientation(value) == expected


# ---------------------------------------------------------------- read_exif end to end
def _jpeg_with(exif: Image.Exif | bytes) -> Image.Image:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(buf, "JPEG", exif=exif)
    # Pillow's JPEG opener already reads EXIF (for DPI) and warns when it is corrupt;
    # that is images.inspect's business (see test_images). Here we test read_exif.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Image.open(io.BytesIO(buf.getvalue()))


def test_written_exif_round_trips() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Xiaomi\x00"
    exif[0x0110] = "  Redmi Note 12  "
    exif[0x0112] = 8
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "S", 2: dms(33, 51, 3188), 3: "E", 4: dms(151, 12, 3300), 5: b"\x01", 6: r(3)})
    exif.get_ifd(EXIF_IFD).update({0x9003: "2024:06:01 08:30:00", 0x9011: "+10:00"})
    with _jpeg_with(exif) as image:
        facts = read_exif(image)
    assert facts.make == "Xiaomi"
    assert facts.model == "Redmi Note 12"
    assert facts.orientation == 8
    assert facts.gps is not None
    assert (facts.gps.lat, facts.gps.lon) == pytest.approx((-33.858856, 151.209167), abs=1e-6)
    assert facts.gps.altitude_m == -3.0
    assert facts.captured == CaptureTime(
        datetime(2024, 6, 1, 8, 30, tzinfo=timezone(timedelta(hours=10))), True
    )


def test_no_exif_gives_empty_facts() -> None:
    with Image.open(io.BytesIO(_png_bytes())) as image:
        image.load()
        assert read_exif(image) == ExifFacts()


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    return buf.getvalue()


# A TIFF header whose only IFD0 entry points the GPS IFD far past the end of the block.
_DANGLING_GPS = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00%\x88\x04\x00\x01\x00\x00\x00\x00\x00\xff\x7f\x00\x00\x00\x00"
# An IFD0 that claims 65535 entries in a 20-byte block.
_LYING_COUNT = (
    b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00"
)


@pytest.mark.parametrize(
    "block", [_DANGLING_GPS, _LYING_COUNT, b"Exif\x00\x00garbage", b"\x00" * 40]
)
def test_malformed_exif_gives_no_facts_and_never_raises(block: bytes) -> None:
    # Under our warnings-as-errors run, Pillow's "corrupt EXIF" warnings are raised;
    # read_exif must swallow them like any other parse failure.
    with _jpeg_with(block) as image:
        facts = read_exif(image)
    assert facts.gps is None
    assert facts.captured is None


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("block", [_DANGLING_GPS, _LYING_COUNT])
def test_malformed_exif_with_default_warning_filters(block: bytes) -> None:
    # The production path: Pillow only warns and skips what it cannot read.
    with _jpeg_with(block) as image:
        facts = read_exif(image)
    assert facts.gps is None
