"""Coordinate reference systems used in China, and small geodesy helpers.

* WGS-84: phone GNSS and EXIF GPS.
* GCJ-02: the obfuscated datum required of Chinese map providers (AMap/Gaode,
  Tencent) and used by DataV boundary files.
* BD-09: Baidu's further offset of GCJ-02.

The forward WGS-84 → GCJ-02 transform is the published closed-form formula; the
inverse has no closed form and is solved by fixed-point iteration to well under
a millimetre. The offset applies only inside the rough bounding rectangle the
formula is defined for (which includes Hong Kong and Macau, as DataV's files
do); outside it the point is returned unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum

EARTH_RADIUS_M = 6_371_008.8  # mean radius; the same value is used by every backend

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 formula.
_A = 6_378_245.0
_EE = 0.006_693_421_622_965_943
_X_PI = math.pi * 3000.0 / 180.0


class CRS(StrEnum):
    wgs84 = "wgs84"
    gcj02 = "gcj02"
    bd09 = "bd09"


def in_china(lon: float, lat: float) -> bool:
    """The rough rectangle within which GCJ-02 differs from WGS-84."""
    return 72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    if not in_china(lon, lat):
        return lon, lat
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = math.sin(radlat)
    magic = 1 - _EE * magic * magic
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Invert :func:`wgs84_to_gcj02` by fixed-point iteration (converges in ~5 steps)."""
    if not in_china(lon, lat):
        return lon, lat
    wlon, wlat = lon, lat
    for _ in range(30):
        glon, glat = wgs84_to_gcj02(wlon, wlat)
        dlon, dlat = glon - lon, glat - lat
        wlon -= dlon
        wlat -= dlat
        if abs(dlon) < 1e-10 and abs(dlat) < 1e-10:
            break
    return wlon, wlat


def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """The usual closed-form inverse is off by ~10 cm; a few fixed-point steps fix that."""
    x = lon - 0.0065
    y = lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    glon, glat = z * math.cos(theta), z * math.sin(theta)
    for _ in range(10):
        blon, blat = gcj02_to_bd09(glon, glat)
        dlon, dlat = blon - lon, blat - lat
        glon -= dlon
        glat -= dlat
        if abs(dlon) < 1e-11 and abs(dlat) < 1e-11:
            break
    return glon, glat


def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def _identity(lon: float, lat: float) -> tuple[float, float]:
    return lon, lat


_TO_WGS84: dict[CRS, Callable[[float, float], tuple[float, float]]] = {
    CRS.wgs84: _identity,
    CRS.gcj02: gcj02_to_wgs84,
    CRS.bd09: bd09_to_wgs84,
}
_FROM_WGS84: dict[CRS, Callable[[float, float], tuple[float, float]]] = {
    CRS.wgs84: _identity,
    CRS.gcj02: wgs84_to_gcj02,
    CRS.bd09: wgs84_to_bd09,
}


def to_wgs84(lon: float, lat: float, crs: CRS | str) -> tuple[float, float]:
    return _TO_WGS84[CRS(crs)](lon, lat)


def from_wgs84(lon: float, lat: float, crs: CRS | str) -> tuple[float, float]:
    return _FROM_WGS84[CRS(crs)](lon, lat)


def converter_to_wgs84(crs: CRS | str) -> Callable[[float, float], tuple[float, float]]:
    return _TO_WGS84[CRS(crs)]


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres on the mean-radius sphere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def metres_to_degrees(metres: float, lat: float) -> tuple[float, float]:
    """Degrees of (lon, lat) spanned by ``metres`` at latitude ``lat`` (for bbox expansion)."""
    dlat = math.degrees(metres / EARTH_RADIUS_M)
    coslat = max(math.cos(math.radians(lat)), 1e-6)
    return dlat / coslat, dlat


def check_lon_lat(lon: float, lat: float) -> list[dict[str, str]]:
    """Field errors for a coordinate pair: finite, in range, not the (0, 0) null island."""
    errors: list[dict[str, str]] = []
    if not math.isfinite(lat) or not -90.0 <= lat <= 90.0:
        errors.append({"field": "lat", "reason": "must be a finite number between -90 and 90"})
    if not math.isfinite(lon) or not -180.0 <= lon <= 180.0:
        errors.append({"field": "lon", "reason": "must be a finite number between -180 and 180"})
    if not errors and lat == 0.0 and lon == 0.0:
        errors.append(
            {"field": "lat", "reason": "0,0 (null island) is a missing fix, not a location"}
        )
    return errors
