"""The few EXIF facts a hazard report needs, read without trusting them.

Pure functions over Pillow's parsed EXIF (``Image.getexif()`` and its GPS and
Exif sub-IFDs), so they work the same for JPEG, PNG, WebP and HEIC (pillow-heif
hands Pillow the raw EXIF block).

Policy: **never guess, never raise.** A GPS fix is returned only when every
part of it is present and well formed; anything doubtful makes the whole fix
absent rather than approximately right, because a wrong position routes a
report to the wrong grid office:

* a rational with a zero denominator (``0/0`` seconds, as some Nikon bodies
  write) makes the fix absent. Reading it as 0 would move the point by up to a
  minute of arc (~1.8 km) with nothing to show it is wrong;
* NaN or infinite parts, negative parts, minutes or seconds above 60, latitude
  beyond ±90 or longitude beyond ±180 make it absent;
* a missing or unknown ``N/S`` or ``E/W`` reference makes it absent: the sign
  is unknown, and defaulting to north/east would put a western or southern
  report on the wrong continent;
* exactly (0, 0), "null island", is what cameras write when they had no fix;
* ``GPSStatus = V`` (measurement void) makes it absent.

Altitude, horizontal error, datum and the GPS time stamp are extras: a bad
value there drops only that field.

Pillow reports damaged EXIF through :mod:`warnings`. Under ``-W error`` (our
test runs) such a warning is raised, and we treat it like any other parse
failure: that section of the result is absent. With default filters Pillow
skips the damaged entries and we validate what remains. Either way the callers
get an answer, never an exception.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

from PIL import Image

EXIF_IFD = 0x8769
GPS_IFD = 0x8825

# IFD0
_MAKE = 0x010F
_MODEL = 0x0110
_ORIENTATION = 0x0112
# Exif IFD
_DATETIME_ORIGINAL = 0x9003
_DATETIME_DIGITIZED = 0x9004
_OFFSET_TIME_ORIGINAL = 0x9011
_OFFSET_TIME_DIGITIZED = 0x9012
_SUBSEC_ORIGINAL = 0x9291
_SUBSEC_DIGITIZED = 0x9292
# GPS IFD
_GPS_LAT_REF = 1
_GPS_LAT = 2
_GPS_LON_REF = 3
_GPS_LON = 4
_GPS_ALT_REF = 5
_GPS_ALT = 6
_GPS_TIME = 7
_GPS_STATUS = 9
_GPS_DATUM = 18
_GPS_DATE = 29
_GPS_HPOS_ERROR = 31

_MAX_ALTITUDE_M = 100_000.0  # above that it is not a street photo, it is garbage
_MAX_TEXT = 64

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class GpsFix:
    """A WGS-84 position as the camera recorded it (EXIF GPS is WGS-84 by spec)."""

    lat: float
    lon: float
    altitude_m: float | None = None
    horizontal_error_m: float | None = None
    datum: str | None = None
    # GPSDateStamp + GPSTimeStamp, which the spec defines as UTC.
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class CaptureTime:
    """When the shutter fired.

    ``offset_known`` is True when the file carried an ``OffsetTime*`` tag and
    ``value`` is timezone-aware. Otherwise ``value`` is the camera's naive
    wall-clock time, whose zone we do not know; callers must not read it as UTC.
    """

    value: datetime
    offset_known: bool


@dataclass(frozen=True, slots=True)
class ExifFacts:
    gps: GpsFix | None = None
    captured: CaptureTime | None = None
    make: str | None = None
    model: str | None = None
    # The Orientation tag (1-8) as written in IFD0, None when absent or invalid.
    orientation: int | None = None


def read_exif(image: Image.Image) -> ExifFacts:
    """Everything we use from ``image``'s EXIF; empty facts when it has none.

    Call it after ``image.load()``: for PNG, Pillow's ``getexif()`` decodes the
    whole image to find an ``eXIf`` chunk placed after the pixel data, which must
    not happen before the pixel-count check.
    """
    exif = _guard(image.getexif)
    if exif is None:
        return ExifFacts()
    gps_ifd = _guard(lambda: exif.get_ifd(GPS_IFD))
    exif_ifd = _guard(lambda: exif.get_ifd(EXIF_IFD))
    return ExifFacts(
        gps=_guard(lambda: parse_gps(gps_ifd)) if gps_ifd else None,
        captured=_guard(lambda: parse_capture_time(exif_ifd)) if exif_ifd else None,
        make=_guard(lambda: _text(exif.get(_MAKE))),
        model=_guard(lambda: _text(exif.get(_MODEL))),
        orientation=_guard(lambda: parse_orientation(exif.get(_ORIENTATION))),
    )


def parse_gps(ifd: Mapping[int, Any]) -> GpsFix | None:
    """A validated fix from a GPS IFD (tag number → Pillow value), or None."""
    if _ref(ifd.get(_GPS_STATUS)) == "V":
        return None
    lat = _sexagesimal(ifd.get(_GPS_LAT))
    lon = _sexagesimal(ifd.get(_GPS_LON))
    if lat is None or lon is None:
        return None
    lat_ref = _ref(ifd.get(_GPS_LAT_REF))
    lon_ref = _ref(ifd.get(_GPS_LON_REF))
    if lat_ref not in ("N", "S") or lon_ref not in ("E", "W"):
        return None
    if lat_ref == "S":
        lat = -lat
    if lon_ref == "W":
        lon = -lon
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return None
    if lat == 0.0 and lon == 0.0:
        return None
    return GpsFix(
        lat=lat,
        lon=lon,
        altitude_m=_guard(lambda: _altitude(ifd)),
        horizontal_error_m=_guard(lambda: _non_negative(ifd.get(_GPS_HPOS_ERROR))),
        datum=_guard(lambda: _text(ifd.get(_GPS_DATUM))),
        timestamp=_guard(lambda: _gps_timestamp(ifd)),
    )


def parse_capture_time(ifd: Mapping[int, Any]) -> CaptureTime | None:
    """DateTimeOriginal (else DateTimeDigitized) from the Exif IFD.

    The matching ``OffsetTime*`` tag makes it aware; ``SubSecTime*`` adds the
    fraction. IFD0 ``DateTime`` is deliberately not used: it is the time the
    file was last changed, which an editing app rewrites.
    """
    for when_tag, offset_tag, subsec_tag in (
        (_DATETIME_ORIGINAL, _OFFSET_TIME_ORIGINAL, _SUBSEC_ORIGINAL),
        (_DATETIME_DIGITIZED, _OFFSET_TIME_DIGITIZED, _SUBSEC_DIGITIZED),
    ):
        when = _exif_datetime(ifd.get(when_tag))
        if when is None:
            continue
        micro = _subsec_micro(ifd.get(subsec_tag))
        if micro is not None:
            when = when.replace(microsecond=micro)
        offset = _offset(ifd.get(offset_tag))
        if offset is None:
            return CaptureTime(when, offset_known=False)
        return CaptureTime(when.replace(tzinfo=offset), offset_known=True)
    return None


def parse_orientation(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 1 <= value <= 8 else None


# ---------------------------------------------------------------- helpers
def _guard(fn: Callable[[], _T]) -> _T | None:
    """``fn()``, or None when the EXIF behind it is malformed in any way."""
    try:
        return fn()
    except Exception:  # malformed input can raise almost anything inside Pillow
        return None


def _real(value: Any) -> float | None:
    """A finite float from an EXIF number; None for 0-denominators, NaN, ±inf or non-numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Rational):  # int, Fraction and Pillow's IFDRational
        if value.denominator == 0:
            return None
        number = float(value)
    elif isinstance(value, float):
        number = value
    else:
        return None
    return number if math.isfinite(number) else None


def _non_negative(value: Any) -> float | None:
    number = _real(value)
    return number if number is not None and number >= 0.0 else None


def _sexagesimal(value: Any) -> float | None:
    """Degrees from (deg, min, sec); one or two parts are accepted, missing ones are 0."""
    parts = tuple(value) if isinstance(value, tuple | list) else (value,)
    if not 1 <= len(parts) <= 3:
        return None
    numbers_ = [_non_negative(p) for p in parts]
    if any(n is None for n in numbers_):
        return None
    degrees, minutes, seconds = ([n for n in numbers_ if n is not None] + [0.0, 0.0])[:3]
    if minutes > 60.0 or seconds > 60.0:
        return None
    return degrees + minutes / 60.0 + seconds / 3600.0


def _ref(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    return value.strip("\x00 ").upper() or None


def _altitude(ifd: Mapping[int, Any]) -> float | None:
    altitude = _non_negative(ifd.get(_GPS_ALT))
    if altitude is None:
        return None
    # GPSAltitudeRef is a BYTE: 0 above sea level (also the default), 1 below.
    ref = ifd.get(_GPS_ALT_REF, 0)
    if isinstance(ref, bytes):
        ref = ref[0] if ref else None
    if ref not in (0, 1) or isinstance(ref, bool):
        return None
    value = -altitude if ref == 1 else altitude
    return value if abs(value) <= _MAX_ALTITUDE_M else None


def _gps_timestamp(ifd: Mapping[int, Any]) -> datetime | None:
    date = ifd.get(_GPS_DATE)
    time = ifd.get(_GPS_TIME)
    if not isinstance(date, str) or not isinstance(time, tuple) or len(time) != 3:
        return None
    match = re.fullmatch(r"(\d{4}):(\d{2}):(\d{2})", date.strip("\x00 "))
    if match is None:
        return None
    hours, minutes, seconds = (_non_negative(t) for t in time)
    if hours is None or minutes is None or seconds is None:
        return None
    if hours >= 24 or minutes >= 60 or seconds >= 61:
        return None
    year, month, day_of_month = (int(g) for g in match.groups())
    day = datetime(year, month, day_of_month, tzinfo=UTC)
    return day + timedelta(hours=hours, minutes=minutes, seconds=seconds)


_EXIF_DATETIME = re.compile(r"(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")


def _exif_datetime(value: Any) -> datetime | None:
    """'YYYY:MM:DD HH:MM:SS' as a naive datetime; None for blanks like '0000:00:00 00:00:00'."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    match = _EXIF_DATETIME.fullmatch(value.strip("\x00 "))
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def _offset(value: Any) -> timezone | None:
    """'+08:00' / '-04:00' as a fixed offset, None when absent or malformed."""
    if not isinstance(value, str):
        return None
    match = _OFFSET.fullmatch(value.strip("\x00 "))
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    if int(hours) > 14 or int(minutes) >= 60:
        return None
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return timezone(-delta if sign == "-" else delta)


def _subsec_micro(value: Any) -> int | None:
    """SubSecTime is the decimal digits after the point: '892' → 892000 µs."""
    if not isinstance(value, str):
        return None
    digits = value.strip("\x00 ")
    if not digits.isdigit() or not digits.isascii():
        return None
    return int(digits[:6].ljust(6, "0"))


def _text(value: Any) -> str | None:
    """A short printable string from an EXIF ASCII field, None when blank."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = "".join(ch for ch in value if ch.isprintable()).strip()
    return cleaned[:_MAX_TEXT] or None
