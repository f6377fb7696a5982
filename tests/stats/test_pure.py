"""Pure parts: histogram buckets and quantiles, slots, cohort decomposition, cells."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.core.errors import InvalidInput
from app.stats import buckets as b
from app.stats.contrib import Deltas
from app.stats.figures import ages
from app.stats.periods import Clock, Cohort, cohort, series
from app.tickets.enums import TicketStatus
from app.tickets.hooks import TicketSnapshot

TZ = ZoneInfo("Asia/Shanghai")


def test_buckets_and_quantiles_match_sorting():
    rng = random.Random(3)
    for _ in range(300):
        values = [
            rng.expovariate(1 / rng.choice([60, 3600, 86400, 10 * 86400]))
            for _ in range(rng.randint(1, 60))
        ]
        counts = [0] * b.NBUCKETS
        for v in values:
            counts[b.bucket(v)] += 1
        xs = sorted(values)
        for num, den in ((1, 2), (9, 10)):
            rank = -(-num * len(xs) // den)
            expected = b.EDGES[b.bucket(xs[rank - 1])]
            assert b.quantile(counts, num, den) == expected
    assert b.quantile([0] * b.NBUCKETS, 1, 2) is None
    assert b.bucket(-5) == 0 and b.bucket(10**9) == b.NBUCKETS - 1
    assert list(b.EDGES) == sorted(set(b.EDGES))
    for sla_h in (4, 12, 24, 48, 72):
        assert sla_h * 3600 in b.EDGES


def test_slots_nest_and_round_trip():
    for d in range(19000, 21000, 37):
        start = b.day_start(d, TZ)
        assert b.day_slot(start, TZ) == d
        assert b.day_slot(start - timedelta(seconds=1), TZ) == d - 1
        assert b.hour_slot(start) * 3600 == start.timestamp()
        m = b.month_of_day(d)
        assert b.month_start(m, TZ) <= start and b.month_slot(start, TZ) == m
    with pytest.raises(ValueError):
        b.day_start(20000, ZoneInfo("Asia/Kolkata"))


def _clock(now: datetime, days: int = 40) -> Clock:
    return Clock(as_of=now, tz=TZ, hour_window=72, cohort_days=days, flow_days=100)


def test_cohort_ranges_cover_exactly_the_days_asked():
    now = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
    clk = _clock(now, days=400)
    today = now.astimezone(TZ).date()
    days = [today - timedelta(days=i) for i in range(0, 380)]
    rng = random.Random(5)
    for _ in range(400):
        lo, hi = sorted(rng.sample(days, 2))
        start = datetime.combine(lo, time(0), TZ) if rng.random() < 0.9 else None
        end = datetime.combine(hi, time(0), TZ) if rng.random() < 0.9 else None
        c = cohort(start, end, clk)
        covered: set[int] = set()
        for grain, s0, s1 in c.ranges(TZ):
            if grain == "A":
                covered |= set(range(19000, 21000))
            elif grain == "D":
                covered |= set(range(s0, s1))
            else:
                first, last = s0 or 0, s1 or 30000
                for d in range(19000, 21000):
                    if first <= b.month_of_day(d) < last:
                        assert d not in covered, "a day counted twice"
                        covered.add(d)
        want = {d for d in range(19000, 21000) if c.contains(b.day_start(d, TZ))}
        assert covered == want, (lo, hi, c.ranges(TZ))


def test_cohort_everything_reads_all_time_rows():
    assert Cohort().ranges(TZ) == [("A", None, None)]


def test_old_bounds_must_be_month_starts():
    now = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
    clk = _clock(now, days=40)
    ok = datetime(2026, 9, 1, tzinfo=TZ)
    assert cohort(ok, None, clk).start == ok
    with pytest.raises(InvalidInput):
        cohort(datetime(2026, 9, 2, tzinfo=TZ), None, clk)
    assert cohort(datetime(2026, 11, 2, tzinfo=TZ), None, clk)  # inside the window


@pytest.mark.parametrize("days", range(7))
def test_default_weeks_are_twelve_on_every_weekday(days):
    # Monday 2026-11-23 00:30 in Shanghai, then each following day: the last
    # bucket is always that week's Monday and there are always twelve.
    now = datetime(2026, 11, 22, 16, 30, tzinfo=UTC) + timedelta(days=days)
    s = series("week", None, None, _clock(now))
    starts = [st for _, st in s.starts]
    assert len(starts) == 12 and starts[-1] == datetime(2026, 11, 23, tzinfo=TZ)
    assert all(st.weekday() == 0 for st in starts)


def test_series_buckets():
    now = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)  # a Sunday, 14:00 in Shanghai
    clk = _clock(now)
    s = series("week", None, None, clk)
    assert len(s.starts) == 12 and s.starts[-1][1] == datetime(2026, 11, 23, tzinfo=TZ)
    s = series("month", datetime(2026, 1, 15, tzinfo=TZ), None, clk)
    assert [st.month for _, st in s.starts] == list(range(1, 12))
    s = series("day", None, None, clk)
    assert s.starts[-1][1].date() == date(2026, 11, 29) and len(s.starts) == 30


def test_ages_nearest_rank():
    as_of = datetime(2026, 11, 29, tzinfo=UTC)
    now = int(as_of.timestamp())
    slots = [(now - h * 3600, 1) for h in (1, 2, 3, 4)]
    assert ages(slots, now) == {"median_age_s": 2 * 3600, "oldest_age_s": 4 * 3600}
    assert ages([], now) == {"median_age_s": None, "oldest_age_s": None}


def test_cells_tile_and_polygons_are_counter_clockwise():
    lon, lat = 113.0812, 22.5813
    for size in (250, 1000, 4000):
        cx, cy = b.cell_of(lon, lat, size)
        ring = b.cell_polygon(cx, cy, size)[0]
        assert ring[0][0] <= lon <= ring[1][0] and ring[0][1] <= lat <= ring[2][1]
        area2 = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))
        assert area2 > 0  # counter-clockwise
        assert b.cell_of(lon, lat, size * 4) == (cx // 4, cy // 4) or size == 4000
    assert b.resolution_for(3000) == 1000 and b.resolution_for(8000) == 4000
    assert b.resolution_for(300) is None


def _snapshot(rng: random.Random, **fixed: object) -> TicketSnapshot:
    created = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(600_000))
    status = rng.choice([s.value for s in TicketStatus])
    done = status in ("resolved", "closed", "rejected")
    fields: dict[str, object] = {
        "id": 1,
        "office_id": rng.choice([4, 5]),
        "category_id": rng.choice([1, 2]),
        "status": status,
        "resolution": rng.choice(["fixed", "unable_to_fix", None]) if done else None,
        "resolved_on_time": rng.choice([True, False, None]),
        "reopen_count": rng.choice([0, 0, 1, 2]),
        "priority": rng.choice([1, 2, 3]),
        "lat": rng.choice([22.51, 22.5101]),
        "lon": 113.005,
        "created_at": created,
        "due_at": created + timedelta(hours=rng.choice([24, 48])),
        "first_response_at": rng.choice(
            [None, created + timedelta(minutes=rng.randrange(1, 9000))]
        ),
        "resolved_at": rng.choice([None, created + timedelta(minutes=rng.randrange(1, 90000))]),
        "closed_at": None,
    }
    return TicketSnapshot(**(fields | fixed))  # type: ignore[arg-type]


def _both(before: TicketSnapshot, after: TicketSnapshot, path: list[int]) -> Deltas:
    d = Deltas(TZ)
    d.add_ticket(before, -1, path)
    d.add_ticket(after, 1, path)
    return d.nonzero()


def test_a_change_in_place_adds_what_removing_and_adding_the_ticket_adds():
    rng = random.Random(11)
    path = [1, 2, 4]
    taken = 0
    for _ in range(4000):
        before = _snapshot(rng)
        # Half the pairs share everything the shortcut requires, the rest vary freely.
        same = {k: getattr(before, k) for k in ("office_id", "category_id", "created_at")}
        after = _snapshot(rng, **same) if rng.random() < 0.5 else _snapshot(rng)
        if rng.random() < 0.3:
            after = _snapshot(rng, **same, due_at=before.due_at, lat=before.lat)
        d = Deltas(TZ)
        if d.add_change(before, after, path):
            taken += 1
            assert d.nonzero() == _both(before, after, path)
        else:
            assert d == Deltas(TZ)
    assert taken > 500
    # accept: new → accepted, first response set; in place.
    new = _snapshot(rng, status="new", resolution=None, first_response_at=None, reopen_count=0)
    accepted = replace(
        new, status="accepted", first_response_at=new.created_at + timedelta(hours=1)
    )
    d = Deltas(TZ)
    assert d.add_change(new, accepted, path)
    assert d.nonzero() == _both(new, accepted, path) and not d.backlog and not d.hotspot
