"""Photo checks, orientation and derivatives: every sample photo in MANIFEST.csv,
then attacks and awkward formats generated here.

Pure: no storage, no database; the only I/O is reading the shared sample files.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import os
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageCms, ImageFile, ImageOps, ImageStat

from app.photos.exceptions_images import (
    PhotoRejected,
    PhotoTooLarge,
    PhotoTypeUnsupported,
    RejectReason,
)
from app.photos.images import (
    Derivative,
    ImageFacts,
    ImageKind,
    content_key,
    inspect,
    make_derivatives,
    sniff,
)

MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000  # below Pillow's MAX_IMAGE_PIXELS (89 M), as inspect requires


# ---------------------------------------------------------------- the shared photos
def _photos_dir() -> Path:
    env = os.environ.get("GRIDFIX_TEST_DATA")
    base = Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    return (base / "photos").resolve()


PHOTOS = _photos_dir()
MISSING = f"shared photo data not found at {PHOTOS} (set GRIDFIX_TEST_DATA)"


def _manifest() -> list[dict[str, str]]:
    path = PHOTOS / "MANIFEST.csv"
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


MANIFEST = _manifest()
# The manifest records that these fail; which of our reasons each one deserves:
REJECTED = {
    "bad_truncated_scan_3484x2347.jpg": RejectReason.truncated,
    "bad_not_decodable_357_bytes.jpg": RejectReason.undecodable,  # header unreadable
    "bad_heif_broken_boxes.heif": RejectReason.undecodable,  # fuzzed boxes, decoder error
    "gps_1x1_pixel_iphonexr.jpg": RejectReason.too_small,  # decodes, but 1×1 shows nothing
}


def _rows(which: str) -> list[Any]:
    if not MANIFEST:
        return [pytest.param(None, id="no-data", marks=pytest.mark.skip(reason=MISSING))]
    rows = [
        r
        for r in MANIFEST
        if which == "all" or (which == "accepted") == (r["file"] not in REJECTED)
    ]
    return [pytest.param(r, id=r["file"]) for r in rows]


def _read(name: str) -> bytes:
    path = PHOTOS / name
    if not path.is_file():
        pytest.skip(MISSING)
    return path.read_bytes()


@dataclass(frozen=True)
class Outcome:
    facts: ImageFacts | None
    rejected: PhotoRejected | None
    derivatives: list[Derivative]
    decoded_size: tuple[int, int] | None


@functools.cache
def _outcome(name: str) -> Outcome:
    """inspect + make_derivatives once per sample; the decoded pixels are then freed."""
    try:
        facts = inspect(_read(name), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    except PhotoRejected as exc:
        return Outcome(None, exc, [], None)
    derivatives = make_derivatives(facts.image)
    size = facts.image.size
    facts.image.close()
    return Outcome(facts, None, derivatives, size)


def _accepted(name: str) -> ImageFacts:
    outcome = _outcome(name)
    assert outcome.facts is not None, outcome.rejected
    return outcome.facts


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def test_every_manifest_failure_has_an_expected_reason() -> None:
    if not MANIFEST:
        pytest.skip(MISSING)
    failing = {r["file"] for r in MANIFEST if r["pillow13_pillowheif18_decode"].startswith("FAIL")}
    assert failing <= REJECTED.keys()
    assert REJECTED.keys() <= {r["file"] for r in MANIFEST}


@pytest.mark.parametrize("row", _rows("all"))
def test_sniff_and_content_key(row: dict[str, str]) -> None:
    data = _read(row["file"])
    assert len(data) == int(row["bytes"])
    assert content_key(data) == row["sha256"]
    expected = ImageKind.jpeg if row["container"] == "JPEG" else ImageKind.heic
    assert sniff(data) is expected


@pytest.mark.parametrize("row", _rows("all"))
def test_outcome(row: dict[str, str]) -> None:
    outcome = _outcome(row["file"])
    if row["file"] in REJECTED:
        assert outcome.rejected is not None
        assert outcome.rejected.reason is REJECTED[row["file"]]
        assert outcome.rejected.status == 422
        assert outcome.rejected.detail
        return
    facts = _accepted(row["file"])
    assert facts.kind is (ImageKind.jpeg if row["container"] == "JPEG" else ImageKind.heic)
    assert facts.mime_type == ("image/jpeg" if row["container"] == "JPEG" else "image/heic")
    # displayed size: the decoded size, turned for EXIF 5-8 (HEIF arrives turned already)
    _, _, decoded = row["pillow13_pillowheif18_decode"].split()
    w, h = (int(v) for v in decoded.split("x"))
    orientation = int(row["orientation"]) if row["orientation"] else None
    if facts.kind is ImageKind.jpeg and orientation in (5, 6, 7, 8):
        w, h = h, w
    assert (facts.width, facts.height) == (w, h)
    # exiftool may find Orientation outside IFD0 (the D5000 has it only in XMP/IFD1):
    # absent and 1 both mean "as stored".
    assert (facts.orientation or 1) == (orientation or 1)
    assert facts.orientation_applied is (
        facts.kind is ImageKind.jpeg and orientation not in (None, 1)
    )


@pytest.mark.parametrize("row", _rows("accepted"))
def test_gps_capture_time_and_camera(row: dict[str, str]) -> None:
    facts = _accepted(row["file"])
    lat, lon = _float(row["gps_lat"]), _float(row["gps_lon"])
    if lat is None or lon is None or (lat, lon) == (0, 0):
        assert facts.gps is None  # none, 0/0 seconds, null island
    else:
        assert facts.gps is not None
        assert facts.gps.lat == pytest.approx(lat, abs=1e-5)
        assert facts.gps.lon == pytest.approx(lon, abs=1e-5)
    assert facts.make == (row["make"] or None)
    assert facts.model == (row["model"] or None)
    if row["datetime_original"]:
        assert facts.captured_at is not None
        assert facts.captured_at.strftime("%Y:%m:%d %H:%M:%S") == row["datetime_original"]
        assert facts.captured_at_offset_known is (facts.captured_at.tzinfo is not None)
    else:
        assert facts.captured_at is None


@pytest.mark.parametrize("row", _rows("accepted"))
def test_derivatives(row: dict[str, str]) -> None:
    outcome = _outcome(row["file"])
    facts = _accepted(row["file"])
    display, thumb = outcome.derivatives
    assert (display.name, thumb.name) == ("display", "thumb")
    long_side = max(facts.width, facts.height)
    assert max(display.width, display.height) == min(1600, long_side)
    assert max(thumb.width, thumb.height) == min(320, long_side)
    # the aspect ratio survives (within rounding)
    assert display.width / display.height == pytest.approx(facts.width / facts.height, rel=0.01)
    for d in outcome.derivatives:
        assert_no_metadata(d)


# ---------------------------------------------------------------- metadata-free output
_ALLOWED_MARKERS = {0xD8, 0xD9, 0xE0, 0xDB, 0xC0, 0xC2, 0xC4, 0xDA, 0xDD}


def jpeg_markers(data: bytes) -> set[int]:
    """Every marker in a JPEG. In entropy-coded data 0xFF is followed only by 0x00 or RSTn."""
    return {
        data[i + 1]
        for i in range(len(data) - 1)
        if data[i] == 0xFF and data[i + 1] not in (0x00, 0xFF) and not 0xD0 <= data[i + 1] <= 0xD7
    }


def assert_no_metadata(d: Derivative) -> None:
    assert d.mime_type == "image/jpeg"
    assert d.sha256 == hashlib.sha256(d.data).hexdigest() == content_key(d.data)
    with Image.open(io.BytesIO(d.data)) as im:
        assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (d.width, d.height))
        assert not im.getexif()
        assert not {"exif", "xmp", "icc_profile", "comment", "photoshop"} & im.info.keys()
        im.load()
    # no APP1 (EXIF, XMP), APP2 (ICC), APP13 (IPTC), COM... only JFIF, tables and scans
    assert jpeg_markers(d.data) <= _ALLOWED_MARKERS
    for needle in (b"Exif\x00\x00", b"http://ns.adobe.com/xap", b"ICC_PROFILE", b"Photoshop"):
        assert needle not in d.data
    # the GPS IFD pointer as it sits in an IFD entry (tag 0x8825, type LONG), both byte orders
    assert b"\x25\x88\x04\x00" not in d.data
    assert b"\x88\x25\x00\x04" not in d.data


# ---------------------------------------------------------------- orientation
def _small_gray(im: Image.Image) -> Image.Image:
    return im.convert("L").resize((32, 24), Image.Resampling.BOX)


def _difference(a: Image.Image, b: Image.Image) -> float:
    return float(ImageStat.Stat(ImageChops.difference(_small_gray(a), _small_gray(b))).mean[0])


def test_orientation_6_and_3_come_out_as_the_same_landscape_picture() -> None:
    f6 = inspect(
        _read("orient6_rotated90cw_landscape.jpg"), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS
    )
    f3 = inspect(
        _read("orient3_rotated180_landscape.jpg"), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS
    )
    assert (f6.width, f6.height) == (f3.width, f3.height) == (600, 450)
    assert f6.image.size == f3.image.size == (600, 450)
    assert (f6.orientation, f3.orientation) == (6, 3)
    assert f6.orientation_applied and f3.orientation_applied
    # Same picture once upright (measured: 0.4 grey levels apart) ...
    assert _difference(f6.image, f3.image) < 5
    # ... and the test can tell a wrong turn (measured: 37 to 57 apart).
    for wrong in (Image.Transpose.ROTATE_180, Image.Transpose.FLIP_LEFT_RIGHT):
        assert _difference(f6.image.transpose(wrong), f3.image) > 25
    # The derivatives agree too.
    d6 = Image.open(io.BytesIO(make_derivatives(f6.image)[0].data))
    d3 = Image.open(io.BytesIO(make_derivatives(f3.image)[0].data))
    assert _difference(d6, d3) < 5


def test_heic_with_irot_and_exif_6_is_turned_once() -> None:
    facts = _accepted("gps_orient6_iphonexr_lisbon.heic")
    assert (facts.width, facts.height) == (3024, 4032)  # portrait, as the phone was held
    assert _outcome("gps_orient6_iphonexr_lisbon.heic").decoded_size == (3024, 4032)
    assert facts.orientation == 6  # what EXIF says; the container's irot already did it
    assert facts.orientation_applied is False
    display = _outcome("gps_orient6_iphonexr_lisbon.heic").derivatives[0]
    assert (display.width, display.height) == (1200, 1600)


def test_null_island_photo_is_turned_but_has_no_fix() -> None:
    facts = _accepted("gps_null_island_0_0_orient6_galaxy_s.jpg")
    assert (facts.width, facts.height) == (480, 640)
    assert facts.gps is None


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_every_exif_orientation_matches_pillows_exif_transpose(orientation: int, fmt: str) -> None:
    stored = _asymmetric(96, 64)
    exif = Image.Exif()
    exif[0x0112] = orientation
    kw = {"lossless": True} if fmt == "WEBP" else {}
    data = _encode(stored, fmt, exif=exif, **kw)
    facts = inspect(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    oracle = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    assert facts.image.size == oracle.size == (facts.width, facts.height)
    # exiftool may find Orientation outside IFD0 (the D5000 has it only in XMP/IFD1):
    # absent and 1 both mean "as stored".
    assert (facts.orientation or 1) == (orientation or 1)
    assert facts.orientation_applied is (orientation != 1)
    assert (
        ImageChops.difference(facts.image.convert("RGB"), oracle.convert("RGB")).getbbox() is None
    )


def test_big_jpeg_is_decoded_reduced_but_reports_its_full_upright_size() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _encode(_asymmetric(3300, 1700), "JPEG", exif=exif, quality=70)
    facts = inspect(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert (facts.width, facts.height) == (1700, 3300)
    assert facts.image.size == (850, 1650)  # DCT-scaled by 2, long side still >= 1600
    display, thumb = make_derivatives(facts.image)
    assert (display.width, display.height) == (824, 1600)
    assert (thumb.width, thumb.height) == (165, 320)


def test_16_megapixel_photo_within_and_over_the_limit() -> None:
    facts = _accepted("nogps_large_16mp_kodak_fz201.jpg")
    assert (facts.width, facts.height) == (4608, 3456)
    assert _outcome("nogps_large_16mp_kodak_fz201.jpg").decoded_size == (2304, 1728)
    data = _read("nogps_large_16mp_kodak_fz201.jpg")
    with pytest.raises(PhotoRejected) as info:
        inspect(data, max_bytes=MAX_BYTES, max_pixels=12_000_000)
    assert info.value.reason is RejectReason.too_many_pixels


# ---------------------------------------------------------------- refusals in order
def test_empty() -> None:
    with pytest.raises(PhotoRejected) as info:
        inspect(b"", max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert info.value.reason is RejectReason.empty


def test_too_many_bytes_is_413_and_checked_before_the_type() -> None:
    with pytest.raises(PhotoTooLarge) as info:
        inspect(b"<svg/>" * 100, max_bytes=599, max_pixels=MAX_PIXELS)
    assert info.value.reason is RejectReason.too_large
    problem = info.value.to_problem()
    assert (problem["status"], problem["reason"]) == (413, "too_large")
    assert "599" in problem["detail"]


def _gif() -> bytes:
    return _encode(Image.new("P", (64, 64)), "GIF")


def _avif() -> bytes:
    return _encode(Image.new("RGB", (64, 64), (10, 200, 30)), "AVIF")


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00" * 64


NOT_PHOTOS = {
    "svg": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "html": b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>",
    "pdf": b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
    "zip": b"PK\x03\x04" + b"\x00" * 100,
    "wav": b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 100,
    "mp4": _ftyp(b"isom", b"isom", b"mp41"),
    "canon-cr3": _ftyp(b"crx ", b"crx "),
    "avif-header": _ftyp(b"avif", b"mif1", b"avif", b"miaf"),
    "ftyp-box-too-big": b"\x00\x00\xff\xffftypheic" + b"\x00" * 40,
    "jpeg-magic-too-short": b"\xff\xd8",
    "text": b"hello",
}  # fmt: skip


@pytest.mark.parametrize(
    "data",
    [pytest.param(v, id=k) for k, v in NOT_PHOTOS.items()]
    + [pytest.param(_gif, id="gif"), pytest.param(_avif, id="avif"), pytest.param("bmp", id="bmp"),
       pytest.param("tiff", id="tiff")],
)  # fmt: skip
def test_not_a_photo_we_take(data: Any) -> None:
    if callable(data):
        data = data()
    elif isinstance(data, str):
        data = _encode(Image.new("RGB", (64, 64)), data.upper())
    assert sniff(data) is None
    with pytest.raises(PhotoTypeUnsupported) as info:
        inspect(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert info.value.reason is RejectReason.unsupported_type
    assert info.value.status == 415


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (_ftyp(b"heic", b"mif1", b"heic"), ImageKind.heic),
        (_ftyp(b"mif1", b"mif1", b"heic"), ImageKind.heic),  # as the fuzzed sample
        (_ftyp(b"heix", b"mif1"), ImageKind.heic),
        (_ftyp(b"msf1", b"hevc"), ImageKind.heic),
        (_ftyp(b"mif1", b"mif1", b"miaf"), ImageKind.heif),
        (_ftyp(b"mif1", b"avif", b"heic"), ImageKind.heic),  # an HEVC brand wins
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", ImageKind.webp),
        (b"\x89PNG\r\n\x1a\n", ImageKind.png),
        (b"\xff\xd8\xff", ImageKind.jpeg),
    ],
)
def test_sniff_by_magic(data: bytes, kind: ImageKind) -> None:
    assert sniff(data) is kind


def test_the_client_label_does_not_matter() -> None:
    # inspect takes no file name or Content-Type: a JPEG a client called "x.png"
    # with Content-Type image/png is a JPEG.
    facts = inspect(
        _encode(_asymmetric(80, 80), "JPEG"), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS
    )
    assert (facts.kind, facts.mime_type) == (ImageKind.jpeg, "image/jpeg")


# ---------------------------------------------------------------- decompression bombs
@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any pixel decode fail loudly: a bomb must be refused from its header alone."""

    def refuse(self: ImageFile.ImageFile) -> Any:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of width×height black pixels, built without holding the pixels.

    One segment of rows is deflated once and repeated: after a full flush a
    deflate segment refers to nothing before it, so the copies form a valid stream.
    """
    row = b"\x00" + bytes((width + 7) // 8)  # filter byte + the packed row
    per_segment = max(1, min(height, (4 << 20) // len(row)))
    segment_raw = row * per_segment
    copies, rest = divmod(height, per_segment)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = deflate.compress(segment_raw) + deflate.flush(zlib.Z_FULL_FLUSH)
    last = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = last.compress(row * rest) + last.flush(zlib.Z_FINISH)
    adler = 1
    for _ in range(copies):
        adler = zlib.adler32(segment_raw, adler)
    adler = zlib.adler32(row * rest, adler)
    stream = b"\x78\xda" + segment * copies + tail + adler.to_bytes(4, "big")

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", stream) + chunk(b"IEND", b"")
    )


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose SOF0 header is rewritten to claim width×height."""
    data = bytearray(_encode(Image.new("RGB", (64, 64), (200, 30, 30)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_no_decoding_fixture_bites(no_decoding: None, fmt: str) -> None:
    with pytest.raises(PhotoRejected) as info:
        inspect(_encode(_asymmetric(80, 80), fmt), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert isinstance(info.value.__cause__, AssertionError)


def test_bomb_png_generator_makes_a_real_png() -> None:
    with Image.open(io.BytesIO(bomb_png(3000, 2500))) as im:
        im.load()
        assert (im.mode, im.size, im.getextrema()) == ("1", (3000, 2500), (0, 0))


@functools.cache
def _big_bomb() -> bytes:
    return bomb_png(30_000, 30_000)  # 900 MP, 112 MB of pixel rows, ~110 KB on disk


def test_a_real_30000_square_png_bomb_is_refused_from_its_header(no_decoding: None) -> None:
    data = _big_bomb()
    assert len(data) < 200_000
    with pytest.raises(PhotoRejected) as info:
        inspect(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert info.value.reason is RejectReason.too_many_pixels


@pytest.mark.parametrize(
    ("data", "max_pixels"),
    [
        pytest.param(lambda: bomb_png(6000, 5000), 24_000_000, id="png-30MP-over-our-limit"),
        pytest.param(
            lambda: jpeg_declaring(65_000, 65_000), MAX_PIXELS, id="jpeg-4GP-pillow-error"
        ),
        pytest.param(lambda: jpeg_declaring(6000, 5000), 24_000_000, id="jpeg-30MP-over-our-limit"),
        pytest.param(
            lambda: jpeg_declaring(10_000, 10_000), MAX_PIXELS, id="jpeg-100MP-pillow-warning"
        ),
    ],
)
@pytest.mark.parametrize("warning_filter", ["error", "ignore"])
def test_bombs_are_refused_before_any_pixel_is_decoded(
    no_decoding: None, data: Any, max_pixels: int, warning_filter: str
) -> None:
    # "error" is how our tests run (Pillow's DecompressionBombWarning is raised);
    # "ignore" is production, where our own pixel check must catch it.
    with warnings.catch_warnings():
        warnings.simplefilter(warning_filter)
        with pytest.raises(PhotoRejected) as info:
            inspect(data(), max_bytes=MAX_BYTES, max_pixels=max_pixels)
    assert info.value.reason is RejectReason.too_many_pixels


def test_pixel_limit_is_inclusive() -> None:
    data = _encode(_asymmetric(80, 64), "PNG")
    assert inspect(data, max_bytes=MAX_BYTES, max_pixels=80 * 64).width == 80
    with pytest.raises(PhotoRejected, match="5,120 pixels"):
        inspect(data, max_bytes=MAX_BYTES, max_pixels=80 * 64 - 1)


def test_unsafe_pillow_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _encode(_asymmetric(80, 64), "PNG")
    with pytest.raises(ValueError, match="MAX_IMAGE_PIXELS"):
        inspect(data, max_bytes=MAX_BYTES, max_pixels=10**10)
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        inspect(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)


# ---------------------------------------------------------------- truncation
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_cut_short_uploads_are_truncated(fmt: str, keep: float) -> None:
    data = _encode(_noise(300, 200), fmt)
    with pytest.raises(PhotoRejected) as info:
        inspect(data[: int(len(data) * keep)], max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert info.value.reason is RejectReason.truncated


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.999])
def test_cut_short_heic_is_truncated_although_libheif_would_decode_it(keep: float) -> None:
    # libheif fills the tiles it cannot find with green and reports no error;
    # only the iloc bounds check sees that the upload was cut.
    data = _read("nogps_iphone11pro.heic")
    with pytest.raises(PhotoRejected) as info:
        inspect(data[: int(len(data) * keep)], max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert info.value.reason is RejectReason.truncated


def test_too_small_is_checked_on_the_displayed_size() -> None:
    with pytest.raises(PhotoRejected) as info:
        inspect(_encode(_asymmetric(200, 40), "PNG"), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert info.value.reason is RejectReason.too_small
    assert "200×40" in info.value.detail
    assert inspect(_encode(_asymmetric(64, 64), "PNG"), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)


# ---------------------------------------------------------------- payloads and odd pixels
def test_polyglot_is_accepted_as_jpeg_but_the_payload_never_reaches_a_derivative() -> None:
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("evil.html", "<script>alert(document.cookie)</script>")
    html = b"<html><script>alert(1)</script></html>"
    data = _encode(_asymmetric(400, 300), "JPEG", comment=b"<script>alert(2)</script>")
    data += zipped.getvalue() + html
    facts = inspect(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert facts.kind is ImageKind.jpeg
    for d in make_derivatives(facts.image):
        assert_no_metadata(d)
        for needle in (b"<script", b"PK\x03\x04", b"<html", b"evil.html"):
            assert needle not in d.data


def test_corrupt_exif_keeps_the_photo_and_drops_the_metadata() -> None:
    bad = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00%\x88\x04\x00\x01\x00\x00\x00\x00\x00\xff\x7f\x00\x00\x00\x00"
    data = _encode(_asymmetric(400, 300), "JPEG", exif=bad)
    # Pillow warns about the EXIF while opening; in production that is only logged.
    with pytest.warns(UserWarning, match="Corrupt EXIF"):
        facts = inspect(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    assert (facts.width, facts.gps) == (400, None)


def _pixel(d: Derivative, xy: tuple[int, int]) -> tuple[int, ...]:
    with Image.open(io.BytesIO(d.data)) as im:
        value = im.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def _close(a: tuple[int, ...], b: tuple[int, ...], tol: int = 12) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def test_rgba_png_is_flattened_on_white() -> None:
    im = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    im.paste((0, 90, 200, 255), (100, 0, 200, 100))
    display, thumb = _derive(_encode(im, "PNG"))
    assert _close(_pixel(display, (20, 50)), (255, 255, 255))
    assert _close(_pixel(display, (180, 50)), (0, 90, 200))
    assert_no_metadata(thumb)


@pytest.mark.parametrize(
    ("make", "fmt", "expected"),
    [
        pytest.param(lambda: _palette_with_transparency(), "PNG", (255, 255, 255), id="P+tRNS"),
        pytest.param(lambda: Image.new("LA", (100, 100), (80, 0)), "PNG", (255, 255, 255), id="LA"),
        pytest.param(lambda: Image.new("1", (100, 100), 1), "PNG", (255, 255, 255), id="1-bit"),
        pytest.param(lambda: Image.new("L", (100, 100), 77), "JPEG", (77, 77, 77), id="grey-jpeg"),
        pytest.param(lambda: Image.new("CMYK", (100, 100), (0, 255, 255, 0)), "JPEG", (255, 0, 0), id="CMYK"),
        pytest.param(lambda: Image.new("I;16", (100, 100), 32768), "PNG", (128, 128, 128), id="16-bit"),
        pytest.param(lambda: Image.new("RGBA", (100, 100), (0, 200, 0, 255)), "WEBP", (0, 200, 0), id="webp-alpha"),
    ],
)  # fmt: skip
def test_awkward_modes_become_plain_rgb(make: Any, fmt: str, expected: tuple[int, ...]) -> None:
    source = make()
    data = _encode(source, fmt)
    if fmt == "PNG" and source.mode == "I;16":
        assert Image.open(io.BytesIO(data)).mode.startswith("I")  # really 16-bit on disk
    display, thumb = _derive(data)
    assert _close(_pixel(display, (50, 50)), expected)
    assert_no_metadata(display)
    assert_no_metadata(thumb)


def test_small_images_are_never_enlarged() -> None:
    display, thumb = _derive(_encode(_asymmetric(150, 90), "PNG"))
    assert (display.width, display.height) == (thumb.width, thumb.height) == (150, 90)


def test_display_p3_is_converted_to_srgb_and_the_profile_dropped() -> None:
    with Image.open(io.BytesIO(_read("gps_orient6_iphonexr_lisbon.heic"))) as heic:
        p3 = heic.info["icc_profile"]  # header only: no decoding
    assert "P3" in ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(p3)))
    tagged = Image.new("RGB", (100, 100), (40, 200, 60))
    tagged.info["icc_profile"] = p3
    (display, _) = make_derivatives(tagged)
    expected = ImageCms.profileToProfile(
        Image.new("RGB", (1, 1), (40, 200, 60)),
        ImageCms.ImageCmsProfile(io.BytesIO(p3)),
        ImageCms.createProfile("sRGB"),
    )
    assert expected is not None
    want = expected.getpixel((0, 0))
    assert isinstance(want, tuple)
    assert not _close(want, (40, 200, 60), tol=8)  # P3 green is visibly outside sRGB
    assert _close(_pixel(display, (50, 50)), want, tol=4)
    assert_no_metadata(display)


def test_a_broken_icc_profile_falls_back_to_plain_rgb() -> None:
    tagged = Image.new("RGB", (100, 100), (40, 200, 60))
    tagged.info["icc_profile"] = b"not a profile at all" * 10
    (display, _) = make_derivatives(tagged)
    assert _close(_pixel(display, (50, 50)), (40, 200, 60), tol=4)


def test_make_derivatives_rejects_a_thumb_larger_than_the_display() -> None:
    with pytest.raises(ValueError, match="thumb_px"):
        make_derivatives(Image.new("RGB", (10, 10)), display_px=100, thumb_px=200)


def test_content_key() -> None:
    assert content_key(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# ---------------------------------------------------------------- helpers
def _encode(im: Image.Image, fmt: str, **params: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def _derive(data: bytes) -> list[Derivative]:
    facts = inspect(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
    return make_derivatives(facts.image)


def _asymmetric(width: int, height: int) -> Image.Image:
    """A picture no rotation or flip maps onto itself: a gradient plus one corner block."""
    im = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    im.paste((220, 30, 30), (0, 0, width // 4, height // 3))
    return im


def _noise(width: int, height: int) -> Image.Image:
    return Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))


def _palette_with_transparency() -> Image.Image:
    im = Image.new("P", (100, 100), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.info["transparency"] = 0
    return im
