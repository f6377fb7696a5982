"""Hostile photos through HTTP, on each database x each object store.

Every attack class sent as a report photo (and, where the bytes can get in that
way, as a direct upload) is refused with a 4xx problem whose ``reason`` names
the check, and leaves nothing behind: no report, ticket or photo rows, no
stored objects, no temp or spooled files.

Two classes are accepted on purpose, and checked to be harmless instead:
* bytes *after* a complete JPEG (an HTML or ZIP "polyglot"): real phones append
  Motion Photo videos and maker trailers there, so they cannot be refused; the
  original is stored and served as ``image/jpeg`` with ``nosniff``, and the
  derivatives are re-encoded from pixels, so the payload never reaches them.
* a 1 MB metadata block: portrait photos carry depth maps in metadata that
  large. It is bounded by the byte limit, read in milliseconds, and stripped.
"""

from __future__ import annotations

import io
import struct
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from tests.photos.test_images import jpeg_declaring
from tests.security.conftest import Site, leftovers
from tests.support.photos import jpeg

BROKEN_SHARED = {  # shared/data/photos files and the reason each is refused for
    "bad_truncated_scan_3484x2347.jpg": "truncated",
    "bad_not_decodable_357_bytes.jpg": "undecodable",
    "bad_heif_broken_boxes.heif": "undecodable",
    "gps_1x1_pixel_iphonexr.jpg": "too_small",
}
PAYLOAD = b"<script>alert('gridfix')</script>"


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    """A few hundred bytes whose header claims width x height (one row of real data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x00" * 3 * min(width, 1000))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("index.html", PAYLOAD)
    return out.getvalue()


def _png(size: tuple[int, int] = (200, 150)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 60, 90)).save(out, "PNG")
    return out.getvalue()


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (200, 150)).save(out, "GIF")
    return out.getvalue()


def png_with_big_exif(n: int = 1 << 20) -> bytes:
    """A PNG whose eXIf chunk holds a MakerNote of ``n`` bytes of payload."""
    note = (PAYLOAD * (n // len(PAYLOAD) + 1))[:n]
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x927C, 7, n, 26)
    tiff += struct.pack("<I", 0) + note
    data = _png()
    at = data.index(b"IDAT") - 4
    return data[:at] + _png_chunk(b"eXIf", tiff) + data[at:]


def jpeg_with_big_app1(total: int = 1 << 20) -> bytes:
    """A JPEG carrying ``total`` bytes of APP1 segments (64 KB each, the most one can hold)."""
    body = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x00\x00"
    body += (PAYLOAD * 2000)[: 65533 - len(body)]
    segment = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    base = jpeg(seed=5, size=(300, 200))
    return base[:2] + segment * (total // len(segment)) + base[2:]


def refused_classes() -> dict[str, tuple[bytes, str, str, int, str]]:
    """name -> (bytes, file name, declared type, status, reason)."""
    good = jpeg(seed=11, size=(400, 300))
    return {
        "zero bytes": (b"", "empty.jpg", "image/jpeg", 422, "empty"),
        "png bomb 50000x50000": (png_claiming(50_000, 50_000), "b.png", "image/png", 422, "too_many_pixels"),
        "jpeg bomb 50000x50000": (jpeg_declaring(50_000, 50_000), "b.jpg", "image/jpeg", 422, "too_many_pixels"),
        "pixel flood 65500 square": (jpeg_declaring(65_500, 65_500), "f.jpg", "image/jpeg", 422, "too_many_pixels"),
        "pixel flood long strip": (png_claiming(250_000, 250), "s.png", "image/png", 422, "too_many_pixels"),
        "svg as jpg": (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "x.jpg", "image/jpeg", 415, "unsupported_type"),
        "html as jpg": (b"<!doctype html><html>" + PAYLOAD + b"</html>", "x.jpg", "image/jpeg", 415, "unsupported_type"),
        "html first, jpeg after": (b"<html>" + PAYLOAD + b"</html>" + good, "x.jpg", "image/jpeg", 415, "unsupported_type"),
        "zip first, jpeg after": (_zip_bytes() + good, "x.jpg", "image/jpeg", 415, "unsupported_type"),
        "gif named jpg": (_gif(), "x.jpg", "image/jpeg", 415, "unsupported_type"),
        "jpeg magic, png body": (b"\xff\xd8\xff" + _png()[3:], "x.jpg", "image/jpeg", 422, "undecodable"),
        "truncated jpeg": (good[: len(good) // 2], "t.jpg", "image/jpeg", 422, "truncated"),
        "truncated png": (_png((300, 200))[:-30], "t.png", "image/png", 422, "truncated"),
    }  # fmt: skip


def check_refusal(r: httpx.Response, status: int, reason: str, field: str) -> str | None:
    if r.status_code != status:
        return f"status {r.status_code}, wanted {status}: {r.text[:200]}"
    if r.headers.get("content-type") != "application/problem+json":
        return f"content type {r.headers.get('content-type')}"
    body = r.json()
    if body.get("reason") != reason:
        return f"reason {body.get('reason')!r}, wanted {reason!r}"
    if [e.get("field") for e in body.get("errors", [])] != [field]:
        return f"errors {body.get('errors')}"
    return None


def test_every_attack_class_is_refused_and_leaves_nothing(make_site, spool_dir: Path) -> None:
    site: Site = make_site()
    problems: dict[str, str] = {}
    for name, (data, filename, declared, status, reason) in refused_classes().items():
        started = time.monotonic()
        r = site.report(files=[(filename, data, declared)])
        if (why := check_refusal(r, status, reason, "photos[0]")) is not None:
            problems[name] = why
        elif time.monotonic() - started > 10:
            problems[name] = "took more than 10 s"
        if site.counts() != (0, 0, 0) or leftovers(site, spool_dir):
            problems[name] = f"left {site.counts()} rows and {leftovers(site, spool_dir)}"
    assert problems == {}


def test_a_bad_photo_after_a_good_one_refuses_the_report_and_keeps_neither(
    make_site, spool_dir: Path
) -> None:
    site: Site = make_site()
    r = site.report(
        files=[
            ("good.jpg", jpeg(seed=12), "image/jpeg"),
            ("bomb.png", png_claiming(50_000, 50_000), "image/png"),
        ]
    )
    assert check_refusal(r, 422, "too_many_pixels", "photos[1]") is None, r.text
    assert site.counts() == (0, 0, 0)
    assert leftovers(site, spool_dir) == []


def test_the_shared_broken_photos_on_every_backend(make_site, spool_dir: Path, data_dir) -> None:
    site: Site = make_site()
    for name, reason in BROKEN_SHARED.items():
        data = (data_dir / "photos" / name).read_bytes()
        r = site.report(files=[(name, data, "application/octet-stream")])
        assert check_refusal(r, 422, reason, "photos[0]") is None, (name, r.text)
    assert site.counts() == (0, 0, 0)
    assert leftovers(site, spool_dir) == []


def test_an_oversized_photo_is_413_and_never_spooled_to_a_leftover(
    make_site, spool_dir: Path
) -> None:
    site: Site = make_site(max_photo_bytes=1024 * 1024)
    big = jpeg(seed=13) + b"\x00" * (2 * 1024 * 1024)  # over 1 MB: Starlette spools it
    r = site.report(files=[("big.jpg", big, "image/jpeg")])
    assert check_refusal(r, 413, "too_large", "photos[0]") is None, r.text
    assert site.counts() == (0, 0, 0)
    assert leftovers(site, spool_dir) == []


def _direct_upload(site: Site, data: bytes, declared: str) -> str:
    r = site.client.post(
        "/v1/uploads",
        json={"content_type": declared, "size_bytes": max(len(data), 1)},
        headers=site.h["r1"],
    )
    assert r.status_code == 201, r.text
    upload = r.json()
    headers = dict(upload["headers"])
    if upload["url"].startswith("http://testserver"):
        put = site.client.put(upload["url"], content=data, headers=headers)
    else:
        put = httpx.put(upload["url"], content=data, headers=headers)
    assert put.status_code == 200, put.text
    return str(upload["upload_id"])


def test_attack_classes_as_direct_uploads(make_site, spool_dir: Path) -> None:
    """The bytes get in through the signed PUT; the report that names them is refused,
    and nothing but the rider's own unused upload (expiring) is left."""
    site: Site = make_site()
    chosen = ("png bomb 50000x50000", "svg as jpg", "zip first, jpeg after", "truncated jpeg")
    classes = refused_classes()
    problems: dict[str, str] = {}
    for name in chosen:
        data, _, _, status, reason = classes[name]
        uid = _direct_upload(site, data, "image/jpeg")
        r = site.client.post(
            "/v1/reports",
            data={"category": "road_damage", "lat": 22.51, "lon": 113.005, "upload_ids": uid},
            headers=site.h["r1"],
        )
        if (why := check_refusal(r, status, reason, "upload_ids[0]")) is not None:
            problems[name] = why
    assert problems == {}
    assert site.counts() == (0, 0, 0)
    left = leftovers(site, spool_dir)
    assert left and all(x.startswith("object:uploads/") for x in left), left


def _wait_ready(site: Site, report_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        body = site.client.get(f"/v1/reports/{report_id}", headers=site.h["off_a"]).json()
        photo: dict[str, Any] = body["photos"][0]
        if photo["status"] != "pending" or time.monotonic() > deadline:
            return photo
        time.sleep(0.05)


def test_trailing_payloads_and_big_metadata_are_accepted_but_defused(make_site) -> None:
    site: Site = make_site(background_workers=True)
    cases = {
        "jpeg + html + zip trailer": (jpeg(seed=14) + PAYLOAD + _zip_bytes(), "image/jpeg"),
        "png with 1 MB eXIf": (png_with_big_exif(), "image/png"),
        "jpeg with 1 MB of APP1": (jpeg_with_big_app1(), "image/jpeg"),
    }
    for name, (data, mime) in cases.items():
        r = site.report(files=[("x.jpg", data, "image/jpeg")])
        assert r.status_code == 201, (name, r.text)
        photo = _wait_ready(site, r.json()["id"])
        assert photo["status"] == "ready", name
        original = site.fetch(photo["original_url"])
        assert original.headers["content-type"] == mime, name
        assert original.headers["content-disposition"].startswith("inline; filename="), name
        if site.settings.storage_kind == "local":
            assert original.headers["x-content-type-options"] == "nosniff"
            assert original.headers["content-security-policy"] == "sandbox"
        for url in ("display_url", "thumb_url"):
            derived = site.fetch(photo[url])
            assert derived.headers["content-type"] == "image/jpeg", name
            for needle in (PAYLOAD, b"PK\x03\x04", b"index.html", b"Exif"):
                assert needle not in derived.content, (name, url, needle)
