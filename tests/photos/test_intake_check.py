"""The intake check (``photos.service.check(keep_image=False)``): a JPEG is decoded at
reduced scale and its pixels dropped, yet it accepts and refuses exactly what the full
check does, and reads the same facts. Pure: no storage, no database."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image

from app.config import Settings
from app.photos import service
from app.photos.exceptions_images import PhotoRejected, RejectReason
from app.photos.images import VERIFY_ONLY_PX, content_key, inspect
from tests.photos.test_images import MANIFEST, MAX_BYTES, MAX_PIXELS, PHOTOS, _rows
from tests.support.photos import jpeg

MakeSettings = Callable[..., Settings]


def _facts_or_reason(data: bytes, work_px: int | None) -> object:
    try:
        f = inspect(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, work_px=work_px)
    except PhotoRejected as exc:
        return exc.reason
    return (f.kind, f.width, f.height, f.orientation, f.gps, f.captured_at, f.make, f.model)


@pytest.mark.parametrize("row", _rows("all"))
def test_reduced_check_agrees_with_the_full_check_on_every_sample(row: dict[str, str]) -> None:
    data = (PHOTOS / row["file"]).read_bytes()
    assert _facts_or_reason(data, VERIFY_ONLY_PX) == _facts_or_reason(data, None)


def test_the_samples_include_a_large_truncated_jpeg() -> None:
    # The sample that proves the point above: big enough to be decoded at 1/8 scale.
    if not MANIFEST:
        pytest.skip("shared photo data not found")
    data = (PHOTOS / "bad_truncated_scan_3484x2347.jpg").read_bytes()
    assert _facts_or_reason(data, VERIFY_ONLY_PX) is RejectReason.truncated


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
@pytest.mark.parametrize("keep", [0.2, 0.6, 0.95, 0.999])
def test_a_cut_jpeg_is_refused_although_decoded_at_reduced_scale(
    progressive: bool, keep: float
) -> None:
    whole = _big_jpeg(progressive)
    facts = inspect(whole, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, work_px=VERIFY_ONLY_PX)
    # The reduced path really ran: the kept picture is 1/8 of the stated size.
    assert facts.image.size == (300, 225) and (facts.width, facts.height) == (2400, 1800)
    with pytest.raises(PhotoRejected) as info:
        inspect(
            whole[: int(len(whole) * keep)],
            max_bytes=MAX_BYTES,
            max_pixels=MAX_PIXELS,
            work_px=VERIFY_ONLY_PX,
        )
    assert info.value.reason is RejectReason.truncated


def test_intake_check_drops_the_pixels_and_keeps_the_facts(make_settings: MakeSettings) -> None:
    settings = make_settings(max_photo_bytes=MAX_BYTES, max_photo_pixels=MAX_PIXELS)
    data = jpeg(seed=11, size=(1200, 900), orientation=6)
    checked = service.check(data, settings, keep_image=False, sha256="ab" * 32)
    assert checked.sha256 == "ab" * 32  # the caller's digest, not hashed again
    assert (checked.facts.width, checked.facts.height) == (900, 1200)  # upright
    assert checked.data is data  # no copy of the upload
    with pytest.raises(ValueError, match="closed"):
        checked.facts.image.load()
    kept = service.check(data, settings)
    assert kept.sha256 == content_key(data)
    assert kept.facts.image.size == (900, 1200)  # the working picture other callers use


def test_intake_check_refuses_what_the_full_check_refuses(make_settings: MakeSettings) -> None:
    settings = make_settings(max_photo_bytes=MAX_BYTES, max_photo_pixels=MAX_PIXELS)
    cut = _big_jpeg(False)[:-5000]
    with pytest.raises(PhotoRejected) as info:
        service.check(cut, settings, keep_image=False)
    assert info.value.reason is RejectReason.truncated


def _big_jpeg(progressive: bool) -> bytes:
    img = Image.frombytes("RGB", (2400, 1800), bytes(range(256)) * (2400 * 1800 * 3 // 256))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90, progressive=progressive)
    return buf.getvalue()
