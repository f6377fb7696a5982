"""Brute force: every statistic computed in plain Python from the ticket and event
rows, following the documented definitions, sharing nothing with app.stats
but the bucket edges (a definition, not an algorithm)."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.categories.models import Category
from app.grids.models import Office
from app.stats.buckets import EDGES
from app.tickets.models import Ticket, TicketEvent

STATUSES = ["new", "accepted", "in_progress", "resolved", "closed", "rejected"]
RESOLUTIONS = ["fixed", "self_resolved", "unable_to_fix", "duplicate", "invalid", "not_responsible"]
OPEN = {"new", "accepted", "in_progress"}
DONE = {"resolved", "closed"}
TZ = ZoneInfo("Asia/Shanghai")


@dataclass
class World:
    tickets: list[Ticket]
    events: list[TicketEvent]
    offices: dict[int, Office]
    by_code: dict[str, Office]
    categories: dict[int, str]

    @classmethod
    def load(cls, s: Session) -> World:
        offices = {o.id: o for o in s.scalars(select(Office))}
        return cls(
            tickets=list(s.scalars(select(Ticket))),
            events=list(s.scalars(select(TicketEvent))),
            offices=offices,
            by_code={o.code: o for o in offices.values()},
            categories={c.id: c.code for c in s.scalars(select(Category))},
        )

    def in_target(self, t: Ticket, office: str | None, exact_office: str | None = None) -> bool:
        mine = self.offices[t.office_id]
        if exact_office is not None:
            return mine.code == exact_office
        if office is None:
            return True
        return mine.path.startswith(self.by_code[office].path)

    def cohort(
        self,
        *,
        office: str | None = None,
        exact: str | None = None,
        category: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Ticket]:
        return [
            t
            for t in self.tickets
            if self.in_target(t, office, exact)
            and (category is None or self.categories[t.category_id] == category)
            and (start is None or t.created_at >= start)
            and (end is None or t.created_at < end)
        ]


def lower_bound(seconds: float) -> int:
    return EDGES[bisect_right(EDGES, max(seconds, 0.0)) - 1]


def nearest_rank(values: list[float], q: float) -> float | None:
    if not values:
        return None
    xs = sorted(values)
    return xs[max(1, math.ceil(round(q * len(xs), 9))) - 1]


def quantiles(durations: list[float]) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for name, q in (("median", 0.5), ("p90", 0.9)):
        v = nearest_rank(durations, q)
        out[name] = None if v is None else lower_bound(v)
    return out


def age_slot_start(
    created: datetime, as_of: datetime, hour_window: int, day_window: int
) -> datetime:
    hour = created.replace(minute=0, second=0, microsecond=0)
    as_of_hour = as_of.replace(minute=0, second=0, microsecond=0)
    if hour >= as_of_hour - timedelta(hours=hour_window - 1):
        return hour
    local = created.astimezone(TZ).date()
    if local >= as_of.astimezone(TZ).date() - timedelta(days=day_window - 1):
        return datetime.combine(local, time(0), TZ)
    return datetime.combine(date(local.year, local.month, 1), time(0), TZ)


def figures(
    tickets: list[Ticket], as_of: datetime, hour_window: int = 72, day_window: int = 92
) -> dict[str, Any]:
    total = len(tickets)
    status = Counter(t.status for t in tickets)
    resolution = Counter(t.resolution for t in tickets if t.resolution)
    done = [t for t in tickets if t.status in DONE]
    ever = [t for t in tickets if t.status in DONE or t.reopen_count > 0]
    reworked = [t for t in tickets if t.reopen_count > 0]
    opened = [t for t in tickets if t.status in OPEN]
    ages = [
        (as_of - age_slot_start(t.created_at, as_of, hour_window, day_window)).total_seconds()
        for t in opened
    ]
    denom = total - status["rejected"]
    return {
        "total": total,
        "by_status": {s: status[s] for s in STATUSES},
        "by_resolution": {r: resolution[r] for r in RESOLUTIONS},
        "resolution_rate": len(done) / denom if denom else None,
        "on_time_rate": sum(1 for t in done if t.resolved_on_time) / len(done) if done else None,
        "rework_rate": len(reworked) / len(ever) if ever else None,
        "time_to_first_response_s": quantiles(
            [
                (t.first_response_at - t.created_at).total_seconds()
                for t in tickets
                if t.first_response_at
            ]
        ),
        "time_to_resolution_s": quantiles(
            [(t.resolved_at - t.created_at).total_seconds() for t in done if t.resolved_at]
        ),
        "overdue": sum(1 for t in opened if t.due_at < as_of),
        "backlog": {
            "open": len(opened),
            "median_age_s": None if not ages else int(nearest_rank(ages, 0.5) or 0),
            "oldest_age_s": int(max(ages)) if ages else None,
        },
    }


def timeseries(
    world: World,
    interval: str,
    starts: list[datetime],
    *,
    office: str | None = None,
    exact: str | None = None,
    category: str | None = None,
) -> list[dict[str, Any]]:
    """Counts per bucket; ``starts`` are the local bucket starts the API listed."""
    by_id = {t.id: t for t in world.tickets}

    def bucket_of(at: datetime) -> date:
        d = at.astimezone(TZ).date()
        if interval == "week":
            return d - timedelta(days=d.weekday())
        if interval == "month":
            return d.replace(day=1)
        return d

    counts: dict[date, Counter[str]] = defaultdict(Counter)
    for e in world.events:
        if e.kind not in ("created", "resolved", "reopened", "closed", "rejected"):
            continue
        t = by_id[e.ticket_id]
        if not world.in_target(t, office, exact):
            continue
        if category is not None and world.categories[t.category_id] != category:
            continue
        counts[bucket_of(e.created_at)][e.kind] += 1
    out = []
    for s in starts:
        c = counts.get(s.astimezone(TZ).date(), Counter())
        out.append(
            {
                "start": s.isoformat(),
                **{k: c[k] for k in ("created", "resolved", "reopened", "closed", "rejected")},
            }
        )
    return out


def mercator_cell(lon: float, lat: float, size: int) -> tuple[int, int]:
    r = 6378137.0
    x = r * math.radians(lon) + math.pi * r
    y = r * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) + math.pi * r
    return math.floor(x / size), math.floor(y / size)


def hotspots(
    world: World,
    cell_m: int,
    *,
    office: str | None = None,
    exact: str | None = None,
    category: str | None = None,
) -> dict[tuple[int, int], dict[str, int]]:
    cells: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    for t in world.tickets:
        if t.status not in OPEN or not world.in_target(t, office, exact):
            continue
        code = world.categories[t.category_id]
        if category is not None and code != category:
            continue
        cells[mercator_cell(t.lon, t.lat, cell_m)][code] += 1
    return {k: dict(sorted(v.items())) for k, v in cells.items()}


def local_midnight(days_ago: int, now: datetime) -> datetime:
    d = now.astimezone(TZ).date() - timedelta(days=days_ago)
    return datetime.combine(d, time(0), TZ)


def month_start(months_ago: int, now: datetime) -> datetime:
    d = now.astimezone(TZ).date().replace(day=1)
    for _ in range(months_ago):
        d = (d - timedelta(days=1)).replace(day=1)
    return datetime.combine(d, time(0), TZ)


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts).astimezone(UTC)
