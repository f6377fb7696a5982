"""Fill a benchmark database with many tickets, with a progress bar.

PostgreSQL: ``scripts.bench.seed.seed_tickets`` (bulk SQL) in chunks. SQLite: the
same shapes through SQLAlchemy Core ``executemany`` (SQLite has no
``generate_series`` and no PostGIS functions). Either way the statistics rollups
are then rebuilt, because bulk rows bypass the listener that keeps them.
"""

from __future__ import annotations

import inspect
import random
import time
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from scripts.bench.seed import QUIET_H, RESOLVED_AFTER_H, STATUS_MIX

CHUNK = 50_000


def _bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def ticket_count(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(text("SELECT count(*) FROM tickets")).scalar_one())


def fill(engine: Engine, target: int, console: Console) -> dict[str, float]:
    """Add tickets until there are ``target``; rebuild rollups. Returns seconds taken."""
    have = ticket_count(engine)
    todo = max(0, target - have)
    t0 = time.perf_counter()
    with _bar(console) as bar:
        task = bar.add_task(f"tickets {have:,} → {target:,}", total=todo)
        done = 0
        while done < todo:
            k = min(CHUNK, todo - done)
            if engine.dialect.name == "postgresql":
                _pg_chunk(engine, k)
            else:
                _sqlite_chunk(engine, have + done, k)
            done += k
            bar.advance(task, k)
        seeded = time.perf_counter() - t0
        t1 = time.perf_counter()
        _rebuild(engine, bar, target)
    rebuilt = time.perf_counter() - t1
    return {
        "seed_s": round(seeded, 1),
        "rebuild_s": round(rebuilt, 1),
        "vacuum_s": round(settle(engine), 1),
    }


def settle(engine: Engine) -> float:
    """PostgreSQL: VACUUM (ANALYZE) after a bulk load, returning seconds taken.

    A million new rows cross autovacuum's insert threshold on several tables;
    left to itself it would scan them during the phases measured next (seen as
    several ms of PostgreSQL CPU added to each request). A live system's tables
    are vacuumed, so the benchmark measures them that way."""
    if engine.dialect.name != "postgresql":
        return 0.0
    t0 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM (ANALYZE)"))
    return time.perf_counter() - t0


def _pg_chunk(engine: Engine, k: int) -> None:
    from scripts.bench.seed import seed_tickets

    kwargs = {"progress": False} if "progress" in inspect.signature(seed_tickets).parameters else {}
    seed_tickets(engine, k, **kwargs)  # type: ignore[arg-type]


def _sqlite_chunk(engine: Engine, offset: int, k: int) -> None:
    from shapely.geometry import Point

    from app.categories.models import Category
    from app.grids.models import Office
    from app.reports.models import Report
    from app.tickets.models import Ticket, TicketEvent

    rng = random.Random(offset)
    now = datetime.now(UTC)
    with engine.begin() as c:
        offices = c.execute(
            select(Office.id, Office.min_lon, Office.min_lat, Office.max_lon, Office.max_lat)
            .where(Office.level == "grid")
            .order_by(Office.id)
        ).all()
        cats = c.execute(select(Category.id, Category.sla_hours).order_by(Category.id)).all()
        rider = c.execute(text("SELECT id FROM principals WHERE role = 'rider' LIMIT 1")).scalar()
        start = int(c.execute(select(func.coalesce(func.max(Report.id), 0))).scalar_one())
        reports, tickets, events = [], [], []
        cuts = []
        acc = 0.0
        for status, share in STATUS_MIX:
            acc += share
            cuts.append((acc, status))
        for i in range(start + 1, start + k + 1):
            o = offices[rng.randrange(len(offices))]
            cat = cats[rng.randrange(len(cats))]
            created = now - timedelta(seconds=rng.randrange(365 * 86400))
            lat = o.min_lat + rng.random() * (o.max_lat - o.min_lat)
            lon = o.min_lon + rng.random() * (o.max_lon - o.min_lon)
            u = rng.random()
            status = next((st for cut, st in cuts if u < cut), "closed")
            if status == "resolved" and created < now - timedelta(hours=QUIET_H + RESOLVED_AFTER_H):
                status = "closed"  # as the auto-close job would have left it
            done = status in ("resolved", "closed")
            due = created + timedelta(hours=cat.sla_hours)
            overdue = status in ("new", "accepted", "in_progress") and due < now
            reports.append(
                {
                    "id": i,
                    "reporter_id": rider,
                    "category_id": cat.id,
                    "description": f"bench report {i}",
                    "lat": lat,
                    "lon": lon,
                    "location_source": "given",
                    "needs_attention": False,
                    "source": "bench",
                    "created_at": created,
                }
            )
            tickets.append(
                {
                    "id": i,
                    "report_id": i,
                    "office_id": o.id,
                    "category_id": cat.id,
                    "status": status,
                    "resolution": "fixed"
                    if done
                    else ("invalid" if status == "rejected" else None),
                    "priority": 1 + i % 4,
                    "lat": lat,
                    "lon": lon,
                    "location": Point(lon, lat),
                    "route_reason": "inside",
                    "route_distance_m": 0.0,
                    "candidate_office_ids": [],
                    "needs_attention": False,
                    "due_at": due,
                    "escalated_at": due if overdue else None,  # as the overdue job would
                    "first_response_at": created + timedelta(hours=2) if status != "new" else None,
                    "resolved_at": created + timedelta(hours=RESOLVED_AFTER_H) if done else None,
                    "closed_at": created + timedelta(hours=30)
                    if status in ("closed", "rejected")
                    else None,
                    "resolved_on_time": (i % 5 != 0) if done else None,
                    "reopen_count": 0,
                    "version": 1,
                    "created_at": created,
                    "updated_at": created + timedelta(hours=30),
                }
            )
            events.append(
                {
                    "ticket_id": i,
                    "kind": "created",
                    "to_status": "new",
                    "actor_role": "rider",
                    "office_id": o.id,
                    "data": {},
                    "created_at": created,
                }
            )
        c.execute(Report.__table__.insert(), reports)
        c.execute(Ticket.__table__.insert(), tickets)
        c.execute(TicketEvent.__table__.insert(), events)


def _rebuild(engine: Engine, bar: Progress, tickets: int) -> None:
    from app.config import load_settings
    from app.core.db import make_sessionmaker
    from app.stats.rebuild import Windows, rebuild

    settings = load_settings()
    windows = Windows(settings.stats_day_window_days, settings.stats_flow_day_window_days)
    # Rows read: every ticket, then (at least) every ticket's events.
    task = bar.add_task("statistics rollups", total=2 * tickets)
    with make_sessionmaker(engine)() as s:
        rebuild(s, windows, progress=lambda _kind, n: bar.advance(task, n))
        s.commit()
    bar.update(task, completed=2 * tickets)
