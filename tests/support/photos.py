"""Photos made in tests: real JPEG bytes, optionally with EXIF GPS."""

from __future__ import annotations

import io
import random
from datetime import datetime

from PIL import ExifTags, Image, ImageDraw


def _dms(value: float) -> tuple[float, float, float]:
    deg = int(value)
    minutes_f = (value - deg) * 60
    minutes = int(minutes_f)
    return (float(deg), float(minutes), round((minutes_f - minutes) * 60, 4))


def jpeg(
    *,
    lat: float | None = None,
    lon: float | None = None,
    size: tuple[int, int] = (800, 600),
    seed: int = 0,
    orientation: int | None = None,
    quality: int = 85,
    captured_at: datetime | None = None,
) -> bytes:
    """A JPEG with random shapes (so each seed is a different photo) and optional GPS."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        draw.rectangle(
            (x0, y0, x0 + rng.randrange(20, 200), y0 + rng.randrange(20, 200)),
            fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)),
        )
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "gridfix-test"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    if captured_at is not None:
        ifd = {ExifTags.Base.DateTimeOriginal: captured_at.strftime("%Y:%m:%d %H:%M:%S")}
        if captured_at.tzinfo is not None:
            off = captured_at.strftime("%z")
            ifd[ExifTags.Base.OffsetTimeOriginal] = f"{off[:3]}:{off[3:]}"
        exif[ExifTags.IFD.Exif] = ifd
    if lat is not None and lon is not None:
        exif[ExifTags.IFD.GPSInfo] = {
            ExifTags.GPS.GPSLatitudeRef: "N" if lat >= 0 else "S",
            ExifTags.GPS.GPSLatitude: _dms(abs(lat)),
            ExifTags.GPS.GPSLongitudeRef: "E" if lon >= 0 else "W",
            ExifTags.GPS.GPSLongitude: _dms(abs(lon)),
        }
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, exif=exif)
    return out.getvalue()
