"""Check an uploaded photo, read its facts, and make metadata-free derivatives.

Pure functions: bytes in, values out; no storage, no database.

* :func:`sniff` names the format from magic bytes only. File names and
  ``Content-Type`` are never consulted: ``inspect`` does not even take them.
* :func:`inspect` runs the checks in a fixed order (empty, byte size, type,
  pixel count from the header, full decode, minimum size) and raises
  :class:`~app.photos.exceptions_images.PhotoRejected` with a machine reason at
  the first failure. It then reads EXIF (GPS, capture time, camera) *before*
  anything is stripped, and turns the pixels upright.
* :func:`make_derivatives` re-encodes the upright image as JPEG in sRGB with no
  metadata at all (no EXIF, XMP, ICC, comments) and never upscales.

Policies (see also :mod:`app.photos.exif` for GPS):

* Formats: JPEG (including MPO), PNG, WebP, and HEIF with an HEVC brand
  (``image/heic``) or the generic ``mif1``/``msf1`` brands (``image/heif``).
  **AVIF is refused**: phone cameras do not save it, and it would add another
  decoder to the attack surface for no rider benefit. GIF, SVG, PDF, HTML etc.
  are refused.
* Photos smaller than ``min_side`` (64 px) on their short side are refused as
  ``too_small``: nothing in them can show a hazard, and a 1×1 image carrying a
  full GPS fix is more likely a probe than a report.
* Bytes after the end of the image (a ZIP or HTML "polyglot", but also the
  Motion Photo and Samsung trailers real phones append) do not make a photo
  invalid. They are never carried into a derivative, which is re-encoded from
  pixels. The original must therefore never be served inline to browsers.
* Pillow's global ``Image.MAX_IMAGE_PIXELS`` is left as it is (changing a
  module global per call is not thread-safe); ``max_pixels`` must not exceed
  it, so Pillow's own guard stays a backstop behind ours. ``LOAD_TRUNCATED_IMAGES``
  must be off, or truncation could not be detected; we refuse to run otherwise.
* Truncation: JPEG and PNG decoders report it. A cut WebP is caught by its
  RIFF size, a cut HEIF by checking every ``iloc`` extent lies inside the data,
  because libheif silently paints missing grid tiles green.
* Pillow reports recoverable damage (corrupt EXIF while opening a JPEG, a
  pixel count above ``MAX_IMAGE_PIXELS``) through :mod:`warnings`. With default
  filters the warning is logged and our own checks decide; where warnings are
  errors (our tests) the raised warning is caught: a bomb warning is refused as
  ``too_many_pixels``, anything else as ``undecodable``. We never change warning
  filters here: ``warnings.catch_warnings`` is process-global and not thread-safe.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import pillow_heif
from PIL import Image, ImageCms, ImageFile, JpegImagePlugin

from app.photos.exceptions_images import PhotoRejected, RejectReason, photo_rejected
from app.photos.exif import GpsFix, parse_orientation, read_exif

pillow_heif.register_heif_opener()

DISPLAY_PX = 1600
THUMB_PX = 320
# ``work_px`` for a check whose picture is not kept: a JPEG decodes at 1/8 scale.
# libjpeg still entropy-decodes every block of every scan, so a cut or corrupt
# stream fails exactly as in a full decode; only the inverse DCT, upsampling and
# colour conversion (which cannot fail on data) run on 1/64 of the pixels.
# Other formats decode fully.
VERIFY_ONLY_PX = 1
JPEG_QUALITY = 82
MIN_SIDE_PX = 64

_WHITE = (255, 255, 255)


class ImageKind(StrEnum):
    jpeg = "jpeg"
    png = "png"
    webp = "webp"
    heic = "heic"  # HEIF with an HEVC brand: what iPhones and many Androids write
    heif = "heif"  # HEIF with only the generic mif1/msf1 brand

    @property
    def mime_type(self) -> str:
        return _MIME[self]


_MIME = {
    ImageKind.jpeg: "image/jpeg",
    ImageKind.png: "image/png",
    ImageKind.webp: "image/webp",
    ImageKind.heic: "image/heic",
    ImageKind.heif: "image/heif",
}
# Restricting Image.open to one plugin keeps every other Pillow decoder (EPS
# with Ghostscript, TGA without a signature, ...) out of reach of uploads.
_PILLOW_FORMAT = {
    ImageKind.jpeg: "JPEG",
    ImageKind.png: "PNG",
    ImageKind.webp: "WEBP",
    ImageKind.heic: "HEIF",
    ImageKind.heif: "HEIF",
}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HEVC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_GENERIC_HEIF_BRANDS = frozenset({b"mif1", b"msf1"})
_AV1_BRANDS = frozenset({b"avif", b"avis"})


def sniff(data: bytes) -> ImageKind | None:
    """The photo format named by the first bytes, or None when we do not take it."""
    if data[:3] == b"\xff\xd8\xff":
        return ImageKind.jpeg
    if data[:8] == _PNG_SIGNATURE:
        return ImageKind.png
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageKind.webp
    return _sniff_heif(data)


def _sniff_heif(data: bytes) -> ImageKind | None:
    # ISO-BMFF: the first box must be `ftyp`: size, 'ftyp', major brand,
    # minor version, then compatible brands to the end of the box.
    if data[4:8] != b"ftyp":
        return None
    size = int.from_bytes(data[:4], "big")
    if size < 16 or size > min(len(data), 4096) or size % 4:
        return None
    brands = {data[8:12]} | {data[i : i + 4] for i in range(16, size, 4)}
    if brands & _HEVC_BRANDS:
        return ImageKind.heic
    if brands & _AV1_BRANDS:
        return None  # AVIF: refused, see the module docstring
    if data[8:12] in _GENERIC_HEIF_BRANDS:
        return ImageKind.heif
    return None


@dataclass(frozen=True, slots=True, eq=False)
class ImageFacts:
    """What ``inspect`` learnt about an accepted photo.

    ``width``/``height`` are the full-resolution size as displayed, after
    orientation. ``image`` is the decoded, upright picture for derivatives;
    for large JPEGs it was decoded with DCT scaling, so it may be smaller than
    ``width``×``height`` but its long side is at least the ``work_px`` asked for.

    ``orientation`` is the EXIF Orientation written in the file (for HEIF the
    value pillow-heif found before resetting it). ``orientation_applied`` is True
    when we turned the pixels to honour it. It is always False for HEIF: the
    HEIF decoder already applies the container's ``irot``/``imir`` boxes, which
    the format makes authoritative, and rotating again by EXIF would turn the
    photo twice.

    ``captured_at`` is aware when ``captured_at_offset_known``; otherwise it is
    the camera's naive wall-clock time in an unknown zone.
    """

    kind: ImageKind
    width: int
    height: int
    orientation: int | None
    orientation_applied: bool
    gps: GpsFix | None
    captured_at: datetime | None
    captured_at_offset_known: bool
    make: str | None
    model: str | None
    image: Image.Image = field(repr=False)

    @property
    def mime_type(self) -> str:
        return self.kind.mime_type


def inspect(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    min_side: int = MIN_SIDE_PX,
    work_px: int | None = DISPLAY_PX,
) -> ImageFacts:
    """Check ``data`` is a photo we accept and read its facts; raise ``PhotoRejected`` if not.

    ``work_px`` is the long side the returned image must keep at least (use
    the ``display_px`` you will pass to :func:`make_derivatives`); None decodes
    at full size, :data:`VERIFY_ONLY_PX` as small as the format allows.
    """
    _require_safe_pillow(max_pixels)
    if not data:
        raise photo_rejected(RejectReason.empty, "the upload is empty (0 bytes)")
    if len(data) > max_bytes:
        raise photo_rejected(
            RejectReason.too_large,
            f"the photo is {len(data):,} bytes; the limit is {max_bytes:,} bytes",
        )
    kind = sniff(data)
    if kind is None:
        raise photo_rejected(
            RejectReason.unsupported_type,
            "the file is not a JPEG, PNG, WebP or HEIC photo (judged by its content)",
        )

    if _container_cut_short(data, kind):
        # Checked before the header is parsed: a cut WebP fails to open at all.
        raise photo_rejected(
            RejectReason.truncated, f"the {kind.value} data ends before the image is complete"
        )
    image = _open(data, kind)
    stored_w, stored_h = image.size
    if stored_w < 1 or stored_h < 1:
        raise photo_rejected(RejectReason.undecodable, f"the {kind.value} header has no size")
    if stored_w * stored_h > max_pixels:
        raise _too_many_pixels(stored_w * stored_h, max_pixels)
    if work_px is not None:
        _reduce_jpeg_decode(image, work_px)
    _decode(image, kind)

    meta = read_exif(image)  # after load(): see read_exif
    if kind in (ImageKind.heic, ImageKind.heif):
        orientation = parse_orientation(image.info.get("original_orientation"))
        orientation = orientation or meta.orientation
        applied = False
    else:
        orientation = meta.orientation
        image, applied = _upright(image, orientation)
    turned = applied and orientation in (5, 6, 7, 8)
    width, height = (stored_h, stored_w) if turned else (stored_w, stored_h)
    if min(width, height) < min_side:
        raise photo_rejected(
            RejectReason.too_small,
            f"the photo is {width}×{height} pixels; a report photo needs at least "
            f"{min_side} pixels on each side",
        )
    return ImageFacts(
        kind=kind,
        width=width,
        height=height,
        orientation=orientation,
        orientation_applied=applied,
        gps=meta.gps,
        captured_at=meta.captured.value if meta.captured else None,
        captured_at_offset_known=meta.captured.offset_known if meta.captured else False,
        make=meta.make,
        model=meta.model,
        image=image,
    )


def _require_safe_pillow(max_pixels: int) -> None:
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        msg = "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on: truncated uploads would pass as valid"
        raise RuntimeError(msg)
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and max_pixels > limit:
        msg = f"max_pixels={max_pixels} exceeds Pillow's Image.MAX_IMAGE_PIXELS={limit}"
        raise ValueError(msg)


def _too_many_pixels(pixels: int, max_pixels: int) -> PhotoRejected:
    return photo_rejected(
        RejectReason.too_many_pixels,
        f"the photo declares {pixels:,} pixels; the limit is {max_pixels:,}",
    )


def _open(data: bytes, kind: ImageKind) -> Image.Image:
    """Parse the header only: ``Image.open`` is lazy and allocates no pixels."""
    try:
        return Image.open(io.BytesIO(data), formats=[_PILLOW_FORMAT[kind]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard (the warning is raised only under -W error).
        raise photo_rejected(
            RejectReason.too_many_pixels, "the photo declares more pixels than allowed"
        ) from exc
    except Exception as exc:  # any parser error on hostile input
        raise photo_rejected(
            RejectReason.undecodable, f"the file looks like {kind.value} but cannot be read"
        ) from exc


def _reduce_jpeg_decode(image: Image.Image, work_px: int) -> None:
    """Let libjpeg decode a big JPEG at 1/2, 1/4 or 1/8 scale (DCT scaling).

    Every coefficient is still entropy-decoded, so truncation is still caught,
    at about 60 % of the CPU for a 12 MP photo. The scale is chosen so the long
    side stays at least ``work_px``.
    """
    if not isinstance(image, JpegImagePlugin.JpegImageFile):
        return
    w, h = image.size
    long_side = max(w, h)
    if long_side < 2 * work_px:
        return
    target = (math.ceil(w * work_px / long_side), math.ceil(h * work_px / long_side))
    image.draft(image.mode, target)


def _decode(image: Image.Image, kind: ImageKind) -> None:
    """Decode every pixel, proving the file is complete."""
    try:
        image.load()
    except OSError as exc:
        if "truncated" in str(exc).lower():
            raise photo_rejected(
                RejectReason.truncated, f"the {kind.value} data ends before the image is complete"
            ) from exc
        raise photo_rejected(
            RejectReason.undecodable, f"the {kind.value} image data cannot be decoded"
        ) from exc
    except Exception as exc:  # decoders signal corrupt data with many types
        raise photo_rejected(
            RejectReason.undecodable, f"the {kind.value} image data cannot be decoded"
        ) from exc


def _container_cut_short(data: bytes, kind: ImageKind) -> bool:
    """The container declares more data than we got (JPEG and PNG are left to the decoder)."""
    if kind is ImageKind.webp:
        return int.from_bytes(data[4:8], "little") + 8 > len(data)
    if kind in (ImageKind.heic, ImageKind.heif):
        return _heif_data_missing(data)
    return False


def _heif_data_missing(data: bytes) -> bool:
    """True when the HEIF's ``meta`` box or any item extent in ``iloc`` ends past the data.

    libheif decodes a grid image (every iPhone photo is one) leniently: tiles
    whose data is missing come out as flat green and no error is raised. So a
    HEIC cut short in transit would "decode" fine; this bounds check is what
    proves it complete. Malformed boxes return False and are left to the decoder.
    """
    try:
        meta = next((box for box in _boxes(data, 0, len(data)) if box[0] == b"meta"), None)
        if meta is None:
            return False
        _, start, end = meta
        if end > len(data):
            return True
        # meta is a FullBox: 4 bytes of version and flags before its children.
        iloc = next((box for box in _boxes(data, start + 4, end) if box[0] == b"iloc"), None)
        if iloc is None:
            return False
        return any(stop > len(data) for stop in _iloc_extent_ends(data, iloc[1], iloc[2]))
    except ValueError:
        return False


def _boxes(data: bytes, pos: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """ISO-BMFF boxes in ``data[pos:end]`` as (type, payload start, box end)."""
    while pos + 8 <= end:
        size, kind, header = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8], 8
        if size == 1:
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:
            size = end - pos  # "extends to the end of the file"
        if size < header:
            raise ValueError("malformed box size")
        yield kind, pos + header, pos + size
        pos += size


def _iloc_extent_ends(data: bytes, start: int, end: int) -> Iterator[int]:
    """File end offsets of the extents ``iloc`` places by file offset (ISO/IEC 14496-12 8.11.3)."""
    end = min(end, len(data))
    pos = start

    def read(n: int) -> int:
        nonlocal pos
        if pos + n > end:
            raise ValueError("iloc ends early")
        pos += n
        return int.from_bytes(data[pos - n : pos], "big")

    version = read(1)
    read(3)  # flags
    sizes = read(1)
    offset_size, length_size = sizes >> 4, sizes & 0x0F
    sizes = read(1)
    base_offset_size = sizes >> 4
    index_size = sizes & 0x0F if version in (1, 2) else 0
    id_size = 2 if version < 2 else 4
    for _ in range(read(id_size)):
        read(id_size)  # item_ID
        construction_method = read(2) & 0x0F if version in (1, 2) else 0
        data_reference_index = read(2)
        base_offset = read(base_offset_size)
        for _ in range(read(2)):
            read(index_size)
            offset, length = read(offset_size), read(length_size)
            if construction_method == 0 and data_reference_index == 0:
                yield base_offset + offset + length  # length 0 means "to the end": fine


# EXIF Orientation → the transpose that makes the picture upright (EXIF 2.32 §4.6.4).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _upright(image: Image.Image, orientation: int | None) -> tuple[Image.Image, bool]:
    # The same table as ImageOps.exif_transpose, applied from the orientation we
    # already validated: exif_transpose would re-serialise the EXIF block (which
    # can fail on the malformed EXIF we must survive) and copy the whole image
    # when there is nothing to do.
    method = _UPRIGHT.get(orientation or 1)
    if method is None:
        return image, False
    return image.transpose(method), True


# ---------------------------------------------------------------- derivatives
@dataclass(frozen=True, slots=True)
class Derivative:
    name: str
    data: bytes = field(repr=False)
    width: int
    height: int
    sha256: str
    mime_type: str = "image/jpeg"


def make_derivatives(
    image: Image.Image,
    *,
    display_px: int = DISPLAY_PX,
    thumb_px: int = THUMB_PX,
    quality: int = JPEG_QUALITY,
) -> list[Derivative]:
    """A ``display`` and a ``thumb`` JPEG, each fitted inside a square of the given side.

    Colours are converted to sRGB when the source carries an ICC profile (an
    iPhone's Display P3 would otherwise look dull), transparency is flattened
    onto white, and the result carries no metadata whatsoever. Images already
    smaller than a target are not enlarged.
    """
    if not 0 < thumb_px <= display_px:
        msg = f"need 0 < thumb_px <= display_px, got {thumb_px} and {display_px}"
        raise ValueError(msg)
    icc = image.info.get("icc_profile")
    display = _to_srgb(_fit(_resample_ready(image), display_px), icc)
    display.info = {}  # a new object: drop comments and anything else copied along
    thumb = _fit(display, thumb_px)
    return [
        _encode("display", display, quality),
        _encode("thumb", thumb, quality),
    ]


def content_key(data: bytes) -> str:
    """The SHA-256 hex digest: the key of ``data`` in content-addressed storage."""
    return hashlib.sha256(data).hexdigest()


def _resample_ready(image: Image.Image) -> Image.Image:
    """A mode that LANCZOS can resize: L, RGB or CMYK, with alpha flattened on white."""
    mode = image.mode
    if mode in ("I", "I;16", "I;16L", "I;16B", "I;16N"):
        # 16-bit grey: scale to 8 bits (convert("L") would clip everything above 255).
        return image.convert("I").point(lambda v: v * (1 / 257)).convert("L")
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, _WHITE)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if mode in ("L", "RGB", "CMYK"):
        return image
    return image.convert("RGB")  # 1, P, YCbCr, LAB, HSV, F


def _fit(image: Image.Image, side: int) -> Image.Image:
    w, h = image.size
    if max(w, h) <= side:
        return image
    scale = side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # reducing_gap=1.0: box-average by the integer part of the ratio, then LANCZOS
    # the rest. Half the CPU of a plain LANCZOS from 12 MP (67 vs 145 ms here),
    # and a mean difference of under 1/255 from it on our sample photos.
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=1.0)


def _to_srgb(image: Image.Image, icc: object) -> Image.Image:
    """RGB in sRGB; a new image object in every case.

    Without a profile the pixels are taken as sRGB already (what untagged images
    mean on the web). A profile that says it is sRGB is trusted without a
    transform: that saves ~30 ms a photo, and a lying one can only shift colours.
    """
    if isinstance(icc, bytes) and icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if not ImageCms.getProfileDescription(source).startswith("sRGB"):
                # A fresh sRGB profile per call (~0.1 ms): lcms profile objects read
                # their tags lazily and are not safe to share between threads.
                srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
                converted = ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")
                if converted is not None:
                    return converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # a broken or mismatched profile: fall back to a plain conversion
    return image.convert("RGB")


def _encode(name: str, image: Image.Image, quality: int) -> Derivative:
    buf = io.BytesIO()
    # No exif/icc_profile/xmp arguments and an empty info (comment): Pillow writes
    # no metadata segment at all, only JFIF APP0.
    # Baseline without Huffman optimisation: measured 3.6 ms against 17.6 ms for
    # optimised progressive on a 1.25 MP photo, for files a few per cent larger.
    # Derivatives are made for every report on the API's own cores.
    image.save(buf, format="JPEG", quality=quality, optimize=False, progressive=False)
    data = buf.getvalue()
    return Derivative(
        name=name,
        data=data,
        width=image.width,
        height=image.height,
        sha256=content_key(data),
    )
