"""Bulk seeding for benchmarks: Jiangmen offices and staff through the real
code paths, then many tickets with plain SQL (minutes, not hours, for a million).

The tickets are realistic in shape (statuses, categories, ages, due times,
locations inside their office's bounding box), not in spatial precision. They are
seeded in the state the scheduled jobs keep a live system in (see
``app.tickets.jobs``): resolved tickets past the quiet period are closed, and open
tickets past their due time are already flagged overdue. Otherwise every server
a benchmark starts would spend its run catching up on a year of escalations,
and those changes, not the load, would decide what is measured.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.config import Settings

#: Seeded tickets resolve 20 h after creation and close after the default quiet period.
RESOLVED_AFTER_H = 20
QUIET_H = int(Settings.model_fields["auto_close_after_h"].default)

STATUS_MIX = [  # (status, share) drawn; resolved ones past the quiet period are closed
    ("new", 0.20),
    ("accepted", 0.10),
    ("in_progress", 0.10),
    ("resolved", 0.10),
    ("closed", 0.45),
    ("rejected", 0.05),
]


def seed_offices(engine: Engine, data_dir: Path) -> None:
    """Jiangmen districts, synthetic grids, categories and demo staff (as seed-demo)."""
    from app.core.db import make_sessionmaker
    from app.seed import seed_demo

    with make_sessionmaker(engine)() as s:
        seed_demo(s, data_dir, admin_password="bench-admin-password")
        s.commit()


def seed_tickets(
    engine: Engine, n: int, *, days: int = 365, batch: int = 100_000, progress: bool = True
) -> float:
    """Insert ``n`` reports and their tickets in batches; returns seconds taken."""
    assert engine.dialect.name == "postgresql", "bulk seeding uses PostgreSQL SQL"
    t0 = time.perf_counter()
    with engine.begin() as c:
        rider = c.execute(text("SELECT id FROM principals WHERE role = 'rider' LIMIT 1")).scalar()
        if rider is None:
            rider = c.execute(
                text(
                    "INSERT INTO principals (name, role, active, token_version, created_at) "
                    "VALUES ('rider-bench', 'rider', true, 0, now()) RETURNING id"
                )
            ).scalar()
        start = c.execute(text("SELECT coalesce(max(id), 0) FROM reports")).scalar() or 0
    cases = " ".join(
        f"WHEN (r.id % 100) < {int(sum(s for _, s in STATUS_MIX[: i + 1]) * 100)} THEN '{st}'"
        for i, (st, _) in enumerate(STATUS_MIX)
    )
    closes = QUIET_H + RESOLVED_AFTER_H  # hours after creation the auto-close job acts
    done = 0
    while done < n:
        k = min(batch, n - done)
        lo = start + done + 1
        with engine.begin() as c:
            c.execute(
                text(f"""
                WITH offs AS (
                  SELECT array_agg(id ORDER BY id) AS ids, array_agg(min_lon ORDER BY id) AS x0,
                         array_agg(min_lat ORDER BY id) AS y0, array_agg(max_lon ORDER BY id) AS x1,
                         array_agg(max_lat ORDER BY id) AS y1
                  FROM offices WHERE level = 'grid'),
                cats AS (SELECT array_agg(id ORDER BY id) AS ids,
                                array_agg(sla_hours ORDER BY id) AS sla FROM categories),
                src AS (
                  SELECT g, 1 + (g * 7919) % array_length(offs.ids, 1) AS oi,
                         1 + (g * 104729) % array_length(cats.ids, 1) AS ci,
                         now() - ((g * 2654435761) % ({days} * 86400)) * interval '1 second' AS t,
                         ((g * 48271) % 1000) / 1000.0 AS fx, ((g * 69621) % 1000) / 1000.0 AS fy
                  FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) g, offs, cats)
                INSERT INTO reports (id, reporter_id, category_id, description, lat, lon,
                                     location_source, needs_attention, source, created_at)
                SELECT g, :rider, cats.ids[ci], 'bench report ' || g,
                       offs.y0[oi] + fy * (offs.y1[oi] - offs.y0[oi]),
                       offs.x0[oi] + fx * (offs.x1[oi] - offs.x0[oi]),
                       'given', false, 'bench', t
                FROM src, offs, cats
            """),
                {"lo": lo, "hi": lo + k - 1, "rider": rider},
            )
            c.execute(
                text(f"""
                WITH offs AS (
                  SELECT array_agg(id ORDER BY id) AS ids FROM offices WHERE level = 'grid'),
                cats AS (SELECT array_agg(id ORDER BY id) AS ids,
                                array_agg(sla_hours ORDER BY id) AS sla FROM categories)
                INSERT INTO tickets (id, report_id, office_id, category_id, status, resolution,
                                     priority, lat, lon, location, route_reason, route_distance_m,
                                     candidate_office_ids, needs_attention, due_at,
                                     first_response_at, resolved_at, closed_at, resolved_on_time,
                                     reopen_count, version, created_at, updated_at, escalated_at)
                SELECT r.id, r.id, offs.ids[1 + (r.id::bigint * 7919) % array_length(offs.ids, 1)],
                       r.category_id,
                       st, CASE WHEN st IN ('resolved', 'closed') THEN 'fixed'
                                WHEN st = 'rejected' THEN 'invalid' END,
                       1 + (r.id % 4), r.lat, r.lon, ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326),
                       'inside', 0, '[]'::jsonb, false,
                       r.created_at + make_interval(
                         hours => cats.sla[
                           1 + (r.id::bigint * 104729) % array_length(cats.ids, 1)]),
                       CASE WHEN st <> 'new' THEN r.created_at + interval '2 hours' END,
                       CASE WHEN st IN ('resolved', 'closed')
                            THEN r.created_at + make_interval(hours => {RESOLVED_AFTER_H}) END,
                       CASE WHEN st IN ('closed', 'rejected')
                            THEN r.created_at + interval '30 hours' END,
                       CASE WHEN st IN ('resolved', 'closed') THEN (r.id % 5) <> 0 END,
                       0, 1, r.created_at, r.created_at + interval '30 hours',
                       CASE WHEN st IN ('new', 'accepted', 'in_progress') THEN (
                         SELECT d FROM (SELECT r.created_at + make_interval(
                           hours => cats.sla[1 + (r.id::bigint * 104729)
                                             % array_length(cats.ids, 1)]) AS d) due
                         WHERE d < now()) END
                FROM (SELECT r.*, CASE WHEN s.st = 'resolved'
                                        AND r.created_at < now() - make_interval(hours => {closes})
                                       THEN 'closed' ELSE s.st END AS st
                      FROM reports r, LATERAL (SELECT CASE {cases} END AS st) s
                      WHERE r.id BETWEEN :lo AND :hi) r, offs, cats
            """),
                {"lo": lo, "hi": lo + k - 1},
            )
            c.execute(
                text("""
                INSERT INTO ticket_events (ticket_id, kind, from_status, to_status, actor_role,
                                           office_id, data, created_at)
                SELECT id, 'created', NULL, 'new', 'rider', office_id, '{}'::jsonb, created_at
                FROM tickets WHERE id BETWEEN :lo AND :hi
            """),
                {"lo": lo, "hi": lo + k - 1},
            )
        done += k
        if progress:
            rate = done / (time.perf_counter() - t0)
            print(f"\r  seeding tickets {done:>9,}/{n:,}  ({rate:,.0f}/s)", end="", flush=True)
    with engine.begin() as c:
        for table in ("reports", "tickets", "ticket_events"):
            seq = f"pg_get_serial_sequence('{table}', 'id')"
            c.execute(text(f"SELECT setval({seq}, (SELECT max(id) FROM {table}))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE"))
    if progress:
        print()
    return time.perf_counter() - t0
