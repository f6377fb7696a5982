"""Time in the statistics: the reference instant, cohorts, time-series buckets. Pure.

``as_of``
    The request time rounded down to ``GRIDFIX_STATS_CLOCK_S`` (60 s). Overdue
    counts and backlog ages are computed at ``as_of``, and it is part of the
    ETag, so a poll within the same minute with no ticket change is a 304.

Cohort (``from``/``to`` on summary, offices, categories)
    The tickets **created** in [from, to). Both bounds are local midnights
    (``GRIDFIX_LOCAL_TIMEZONE``); a bound on a day older than the day window
    (``GRIDFIX_STATS_DAY_WINDOW_DAYS``, 31 days back from ``as_of``)
    must be the first of a month, because day rows older than that are pruned
    and such ranges are served from month rows. Either bound may be omitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.core.errors import InvalidInput
from app.stats import buckets as b

SlotRange = tuple[str, int | None, int | None]


def _invalid(field: str, reason: str) -> InvalidInput:
    return InvalidInput(f"{field}: {reason}", errors=[{"field": field, "reason": reason}])


@dataclass(frozen=True, slots=True)
class Clock:
    """``as_of`` and the windows that follow from it."""

    as_of: datetime
    tz: ZoneInfo
    hour_window: int
    cohort_days: int
    flow_days: int

    @property
    def hour(self) -> int:
        return b.hour_slot(self.as_of)

    @property
    def first_hour(self) -> int:
        """Backlog ages have hour resolution from this hour slot on."""
        return self.hour - (self.hour_window - 1)

    @property
    def day(self) -> int:
        return b.day_slot(self.as_of, self.tz)

    @property
    def first_day(self) -> int:
        """The oldest day kept at day resolution: cohort rows (older ones are pruned)
        and backlog ages (older tickets' ages have month resolution)."""
        return self.day - (self.cohort_days - 1)

    @property
    def first_flow_day(self) -> int:
        return self.day - (self.flow_days - 1)


@dataclass(frozen=True, slots=True)
class Cohort:
    start: datetime | None = None
    end: datetime | None = None

    @property
    def everything(self) -> bool:
        return self.start is None and self.end is None

    def contains(self, t: datetime) -> bool:
        return (self.start is None or t >= self.start) and (self.end is None or t < self.end)

    def hour_bounds(self) -> tuple[int | None, int | None]:
        lo = b.hour_slot(self.start) if self.start else None
        hi = b.hour_slot(self.end) if self.end else None
        return lo, hi

    def ranges(self, tz: ZoneInfo) -> list[SlotRange]:
        """The cohort as whole months plus the days at either end (rows to sum)."""
        if self.everything:
            return [("A", None, None)]
        d0 = b.day_slot(self.start, tz) if self.start else None
        d1 = b.day_slot(self.end, tz) if self.end else None
        first0 = d0 is not None and b.first_day_of_month(b.month_of_day(d0)) == d0
        first1 = d1 is not None and b.first_day_of_month(b.month_of_day(d1)) == d1
        m0 = None if d0 is None else b.month_of_day(d0) + (0 if first0 else 1)
        m1 = None if d1 is None else b.month_of_day(d1)
        if m0 is not None and m1 is not None and m0 > m1:
            return [("D", d0, d1)]  # inside one month, neither end on its first day
        out: list[SlotRange] = []
        if m0 is None or m1 is None or m0 < m1:
            out.append(("M", m0, m1))
        if d0 is not None and not first0 and m0 is not None:
            out.append(("D", d0, b.first_day_of_month(m0)))
        if d1 is not None and not first1 and m1 is not None:
            out.append(("D", b.first_day_of_month(m1), d1))
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
        }


def check_bound(value: datetime | None, field: str, clock: Clock) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise _invalid(field, "needs a UTC offset, e.g. 2026-11-01T00:00:00+08:00")
    if not b.is_local_midnight(value, clock.tz):
        raise _invalid(field, f"must be a local midnight ({clock.tz.key}): cohorts are whole days")
    day = b.day_slot(value, clock.tz)
    if day < clock.first_day and b.first_day_of_month(b.month_of_day(day)) != day:
        raise _invalid(
            field,
            f"days more than {clock.cohort_days} days back are kept by month only: "
            "use the first of a month",
        )
    return value


def cohort(start: datetime | None, end: datetime | None, clock: Clock) -> Cohort:
    """The validated cohort; 422 naming ``from`` or ``to`` when a bound is unusable."""
    start = check_bound(start, "from", clock)
    end = check_bound(end, "to", clock)
    if start is not None and end is not None and start >= end:
        raise _invalid("to", "must be after from")
    return Cohort(start, end)


# --- time series ---------------------------------------------------------------------------

MAX_BUCKETS = {"day": 400, "week": 60, "month": 120}
DEFAULT_SPAN = {"day": 30, "week": 12, "month": 12}


@dataclass(frozen=True, slots=True)
class Series:
    """Buckets of a time series: their starts as slots of ``grain`` and as instants."""

    interval: str
    grain: str  # rollup grain read: "D" (days, weeks) or "M"
    first: int  # first slot read
    end: int  # end slot read (exclusive)
    starts: list[tuple[int, datetime]]  # (first slot of the bucket, its local start)
    width: int  # slots per bucket (7 for weeks)


def _week_start(day: int) -> int:
    return day - (day + 3) % 7  # 1970-01-01 was a Thursday; weeks start on Monday


def series(interval: str, start: datetime | None, end: datetime | None, clock: Clock) -> Series:
    """Every local day/week/month bucket that meets [start, end) (default: the last 30
    days, 12 weeks or 12 months up to ``as_of``)."""
    tz = clock.tz
    for field, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise _invalid(field, "needs a UTC offset, e.g. 2026-11-01T00:00:00+08:00")
    end = end or clock.as_of
    last = end - timedelta(microseconds=1)
    if interval == "month":
        hi = b.month_slot(last, tz)
        lo = b.month_slot(start, tz) if start else hi - (DEFAULT_SPAN["month"] - 1)
        slots = list(range(lo, hi + 1))
        starts = [(m, b.month_start(m, tz)) for m in slots]
        grain, first, stop, width = "M", lo, hi + 1, 1
    else:
        hi_day = b.day_slot(last, tz)
        step = 7 if interval == "week" else 1
        if start is not None:
            lo_day = b.day_slot(start, tz)
        elif step == 7:
            # Counted from the current week's Monday: counted back from today,
            # a Monday would reach into a thirteenth week.
            lo_day = _week_start(hi_day) - (DEFAULT_SPAN[interval] - 1) * 7
        else:
            lo_day = hi_day - (DEFAULT_SPAN[interval] - 1)
        if step == 7:
            lo_day, hi_day = _week_start(lo_day), _week_start(hi_day)
        slots = list(range(lo_day, hi_day + 1, step))
        starts = [(d, b.day_start(d, tz)) for d in slots]
        grain, first, stop, width = "D", lo_day, hi_day + step, step
        if first < clock.first_flow_day:
            raise _invalid(
                "from",
                f"{interval} buckets reach back {clock.flow_days} days at most; "
                "use interval=month for older ones",
            )
    if not slots:
        raise _invalid("to", "must be after from")
    if len(slots) > MAX_BUCKETS[interval]:
        raise _invalid("from", f"at most {MAX_BUCKETS[interval]} {interval} buckets a request")
    return Series(interval, grain, first, stop, starts, width)
