"""Pure definitions the statistics rest on: duration histogram buckets, the
nearest-rank quantile read from them, time slots, and hotspot cells.

Everything here is arithmetic on values (no I/O), shared by the hooks listener
that maintains the rollups, the rebuild, the queries and the tests' brute force,
so "exact" means one definition computed two ways.

Time slots
    ``hour``  whole UTC hours since the epoch (``floor(epoch_s / 3600)``);
    ``day``   local calendar days (``GRIDFIX_LOCAL_TIMEZONE``) since 1970-01-01;
    ``month`` local calendar months, ``year * 12 + month - 1``.
A local day must be a whole number of UTC hours (true of every zone whose
offsets are whole hours, Asia/Shanghai included), so hours nest in days and
days in months; :func:`day_start` refuses a zone where that fails.
"""

from __future__ import annotations

import math
import os
from bisect import bisect_right
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

# --- duration histograms ----------------------------------------------------------------

_M, _H, _D = 60, 3600, 86400
#: Lower bounds (seconds) of the 40 duration buckets; the last one is open-ended.
#: Every default SLA (4, 12, 24, 48, 72 h) is a bucket edge.
EDGES: Final[tuple[int, ...]] = (
    0, 1 * _M, 2 * _M, 3 * _M, 5 * _M, 10 * _M, 15 * _M, 20 * _M, 30 * _M, 45 * _M,
    1 * _H, 90 * _M, 2 * _H, 3 * _H, 4 * _H, 6 * _H, 8 * _H, 10 * _H, 12 * _H, 16 * _H,
    20 * _H, 24 * _H, 30 * _H, 36 * _H, 48 * _H, 60 * _H, 72 * _H, 4 * _D, 5 * _D, 6 * _D,
    7 * _D, 10 * _D, 14 * _D, 21 * _D, 30 * _D, 45 * _D, 60 * _D, 90 * _D, 180 * _D, 365 * _D,
)  # fmt: skip
NBUCKETS: Final = len(EDGES)


def bucket(seconds: float) -> int:
    """Index of the bucket holding a duration (negative durations count as 0)."""
    return bisect_right(EDGES, max(seconds, 0.0)) - 1


def duration_bucket(start: datetime, end: datetime) -> int:
    return bucket((end - start).total_seconds())


def rank(q_num: int, q_den: int, n: int) -> int:
    """Nearest-rank position (1-based) of the q-quantile among ``n`` values: ceil(q·n)."""
    return max(1, -(-q_num * n // q_den))


def quantile(counts: list[int], q_num: int, q_den: int) -> int | None:
    """Lower bound (s) of the bucket holding the nearest-rank q-quantile; None if empty."""
    n = sum(counts)
    if n <= 0:
        return None
    r = rank(q_num, q_den, n)
    seen = 0
    for i, c in enumerate(counts):
        seen += c
        if seen >= r:
            return EDGES[i]
    return EDGES[-1]  # pragma: no cover - counts sum to n


def median_p90(counts: list[int]) -> dict[str, int | None]:
    return {"median": quantile(counts, 1, 2), "p90": quantile(counts, 9, 10)}


# --- time slots -----------------------------------------------------------------------

_EPOCH_DAY = date(1970, 1, 1)


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def stats_timezone() -> ZoneInfo:
    """The zone of day/month slots: this process's ``GRIDFIX_LOCAL_TIMEZONE``.

    Process-wide on purpose: the hooks listener that writes slots has no
    settings object, and reads must use the very same zone. Changing the
    variable needs ``gridfix stats rebuild``.
    """
    return _zone(os.environ.get("GRIDFIX_LOCAL_TIMEZONE") or _default_zone_name())


@lru_cache(maxsize=1)
def _default_zone_name() -> str:
    # Read once: every ticket change asks for the zone.
    from app.config import Settings

    return str(Settings.model_fields["local_timezone"].default)


def hour_slot(t: datetime) -> int:
    return math.floor(t.timestamp() / 3600)


def hour_start(slot: int) -> datetime:
    return datetime.fromtimestamp(slot * 3600, UTC)


def day_slot(t: datetime, tz: ZoneInfo) -> int:
    return (t.astimezone(tz).date() - _EPOCH_DAY).days


def month_slot(t: datetime, tz: ZoneInfo) -> int:
    d = t.astimezone(tz).date()
    return d.year * 12 + d.month - 1


def day_date(slot: int) -> date:
    return _EPOCH_DAY + timedelta(days=slot)


@lru_cache(maxsize=65536)
def month_of_day(slot: int) -> int:
    d = day_date(slot)
    return d.year * 12 + d.month - 1


def _local_midnight(d: date, tz: ZoneInfo) -> datetime:
    start = datetime.combine(d, time(0), tzinfo=tz)
    if start.astimezone(UTC).timestamp() % 3600:
        raise ValueError(
            f"time zone {tz.key}: local midnight of {d} is not a whole UTC hour; "
            "statistics need a zone with whole-hour offsets"
        )
    return start


def day_start(slot: int, tz: ZoneInfo) -> datetime:
    """Local midnight starting day ``slot`` (aware, in ``tz``)."""
    return _local_midnight(day_date(slot), tz)


def month_start(slot: int, tz: ZoneInfo) -> datetime:
    return _local_midnight(date(slot // 12, slot % 12 + 1, 1), tz)


def first_day_of_month(slot: int) -> int:
    return (date(slot // 12, slot % 12 + 1, 1) - _EPOCH_DAY).days


@lru_cache(maxsize=65536)
def day_start_ts(slot: int, tz: ZoneInfo) -> int:
    """Epoch seconds of local midnight starting day ``slot`` (cached: reads call it a lot)."""
    return int(day_start(slot, tz).timestamp())


@lru_cache(maxsize=4096)
def month_start_ts(slot: int, tz: ZoneInfo) -> int:
    return int(month_start(slot, tz).timestamp())


@lru_cache(maxsize=65536)
def day_of_hour(hour: int, tz: ZoneInfo) -> int:
    return day_slot(hour_start(hour), tz)


def is_local_midnight(t: datetime, tz: ZoneInfo) -> bool:
    local = t.astimezone(tz)
    return local.time() == time(0) and local == datetime.combine(local.date(), time(0), tz)


def floor_time(t: datetime, step_s: int) -> datetime:
    """``t`` rounded down to a multiple of ``step_s`` seconds since the epoch (UTC)."""
    ts = math.floor(t.timestamp() / step_s) * step_s
    return datetime.fromtimestamp(ts, UTC)


# --- hotspot cells (Web Mercator, EPSG:3857) ---------------------------------------------

EARTH_R: Final = 6378137.0
HALF_WORLD: Final = math.pi * EARTH_R  # 20037508.34…: shifts x, y to non-negative
MAX_LAT: Final = 85.05112878
#: Cell sizes (Mercator metres) stored in the rollup; a request's ``cell_m`` must be
#: a multiple of the smallest and is read from the largest that divides it.
CELL_RESOLUTIONS: Final[tuple[int, ...]] = (4000, 1000, 250)


def mercator(lon: float, lat: float) -> tuple[float, float]:
    """Shifted Web Mercator metres (both ≥ 0)."""
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    x = EARTH_R * math.radians(lon) + HALF_WORLD
    y = EARTH_R * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) + HALF_WORLD
    return x, y


def cell_of(lon: float, lat: float, size_m: int) -> tuple[int, int]:
    x, y = mercator(lon, lat)
    return math.floor(x / size_m), math.floor(y / size_m)


def _unproject(x: float, y: float) -> tuple[float, float]:
    x -= HALF_WORLD
    y -= HALF_WORLD
    lon = math.degrees(x / EARTH_R)
    lat = math.degrees(2 * math.atan(math.exp(y / EARTH_R)) - math.pi / 2)
    return round(lon, 7), round(lat, 7)


def cell_polygon(cx: int, cy: int, size_m: int) -> list[list[list[float]]]:
    """GeoJSON Polygon coordinates of a cell: lon/lat, counter-clockwise (RFC 7946)."""
    x0, y0, x1, y1 = cx * size_m, cy * size_m, (cx + 1) * size_m, (cy + 1) * size_m
    ring = [_unproject(x0, y0), _unproject(x1, y0), _unproject(x1, y1), _unproject(x0, y1)]
    ring.append(ring[0])
    return [[[lon, lat] for lon, lat in ring]]


def resolution_for(cell_m: int) -> int | None:
    """The stored resolution to aggregate ``cell_m`` cells from, or None if not a multiple."""
    for res in CELL_RESOLUTIONS:
        if cell_m % res == 0:
            return res
    return None
