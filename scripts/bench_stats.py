"""Statistics benchmark on PostGIS: poll cost at 10 k and at 1 M tickets.

    python scripts/bench_stats.py                       # 10 k, then 1 M tickets
    python scripts/bench_stats.py --sizes 10000 --duration 5

Seeds a scratch database (dropped after) with a city of 30 districts × 10 grids,
the default categories and tickets with events, by bulk ``INSERT … SELECT
generate_series`` (reports, tickets, events), then ``app.stats.rebuild``. For
each size it starts gridfix (2 workers, ``python -m app.cli serve``) and
measures, from a separate process, ``/healthz`` (tiny JSON), ``/v1/me`` (the
cost of a credential check), the city-wide summary, the per-district list and a
district's summary for one category with a new ETag on every request (no
If-None-Match; a varying ``_`` parameter changes the ETag too, so each answer is
a 200 served from the answer cache), and 304 polls. Then it restarts gridfix with
the answer cache off (``GRIDFIX_STATS_CACHE_ITEMS=0``) and measures the same
three computed on every request (rows ``…_cold``).
It also times ticket changes through ``service.act`` with and without the stats
listener (the write cost of maintaining the rollups in the same transaction).

Aims: stats ≥ 0.25 × tiny JSON throughput, 304 ≥ 0.5 × tiny JSON, stats
latency at 1 M ≤ 1.5 × at 10 k (the ``_cold`` rows are the honest test of the
latter: the cached rows do not touch the rollups).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from scripts.bench import load
from scripts.bench.servers import gridfix_server

SECRET = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
DISTRICTS, GRIDS = 30, 10
DAYS = 730
console = Console()


# --- seeding ---------------------------------------------------------------------------------


def prepare(url: str) -> dict[str, str]:
    """Migrate; make offices, categories, a rider and the dashboard viewers; return tokens."""
    from shapely.geometry import box

    from app.auth.enums import Role
    from app.auth.models import Principal
    from app.auth.tokens import issue_token
    from app.categories.service import ensure_defaults
    from app.config import load_settings
    from app.core.db import make_engine, make_sessionmaker
    from app.core.migrate import upgrade
    from tests.support.factories import make_office

    settings = load_settings()
    engine = make_engine(url, pool_size=1)
    upgrade(engine)
    with make_sessionmaker(engine)() as s:
        city = make_office(
            s, "city", "Bench City", boundary=box(113.0, 22.5, 113.3, 22.8), level="city"
        )
        first_district = None
        for d in range(DISTRICTS):
            x0 = 113.0 + (d % 6) * 0.05
            y0 = 22.5 + (d // 6) * 0.06
            dist = make_office(
                s,
                f"d{d:02d}",
                f"District {d}",
                city,
                boundary=box(x0, y0, x0 + 0.05, y0 + 0.06),
                level="district",
            )
            first_district = first_district or dist
            for g in range(GRIDS):
                gx = x0 + (g % 5) * 0.01
                gy = y0 + (g // 5) * 0.03
                make_office(
                    s,
                    f"d{d:02d}g{g}",
                    f"Grid {d}-{g}",
                    dist,
                    boundary=box(gx, gy, gx + 0.01, gy + 0.03),
                )
        ensure_defaults(s)
        people = {
            "rider": Principal(name="bench-rider", role=Role.rider, active=True, token_version=0),
            "viewer": Principal(
                name="bench-viewer",
                role=Role.viewer,
                office_id=city.id,
                active=True,
                token_version=0,
            ),
            "sup": Principal(
                name="bench-sup",
                role=Role.supervisor,
                office_id=first_district.id,
                active=True,
                token_version=0,
            ),
            "admin": Principal(name="bench-admin", role=Role.admin, active=True, token_version=0),
        }
        s.add_all(people.values())
        s.flush()
        tokens = {k: issue_token(settings, p, 86400)[0] for k, p in people.items()}
        s.commit()
    engine.dispose()
    return tokens


SEED_SQL = """
WITH g AS (
  SELECT i,
         (SELECT array_agg(id ORDER BY id) FROM offices WHERE depth = 2) AS grids,
         (SELECT array_agg(id ORDER BY id) FROM categories) AS cats,
         (SELECT array_agg(sla_hours ORDER BY id) FROM categories) AS slas
  FROM generate_series({lo}::bigint, {hi}::bigint) AS i
), r AS (
  SELECT i,
         grids[1 + (i * 7919) % array_length(grids, 1)] AS office_id,
         1 + (i * 104729) % array_length(cats, 1) AS ci,
         cats, slas,
         now() - make_interval(secs => ({days} * 86400.0)
                 * power(((i * 2654435761) % 1000003) / 1000003.0, 1.4)) AS created_at,
         ((i * 40503) % 1000) / 1000.0 AS u1,
         ((i * 9973) % 997) / 997.0 AS u2,
         ((i * 31337) % 991) / 991.0 AS u3
  FROM g
)
SELECT i, office_id, cats[ci] AS category_id, created_at,
       created_at + make_interval(hours => slas[ci]) AS due_at,
       u1, u2, u3,
       extract(epoch FROM now() - created_at) / 86400.0 AS age_d
FROM r
"""


def seed(url: str, lo: int, hi: int, rider_id: int, progress: Progress) -> None:
    """Insert reports, tickets and their events for ids lo..hi, in chunks."""
    engine = create_engine(url)
    task = progress.add_task(f"seed {lo:,}–{hi:,}", total=hi - lo + 1)
    chunk = 100_000
    with engine.begin() as c:
        # A scratch database: skip the foreign-key triggers while bulk loading.
        c.execute(text("SET LOCAL session_replication_role = replica"))
        for a in range(lo, hi + 1, chunk):
            b = min(hi, a + chunk - 1)
            if a == lo:
                empty = SEED_SQL.format(lo=1, hi=0, days=DAYS)
                c.execute(text(f"CREATE TEMP TABLE seed_src ON COMMIT DROP AS {empty}"))
            c.execute(text("TRUNCATE seed_src"))
            c.execute(text("INSERT INTO seed_src " + SEED_SQL.format(lo=a, hi=b, days=DAYS)))
            c.execute(text(PLAN_SQL))
            c.execute(text(REPORTS_SQL), {"rider": rider_id})
            c.execute(text(TICKETS_SQL))
            for sql in EVENTS_SQL:
                c.execute(text(sql))
            progress.advance(task, b - a + 1)
    engine.dispose()


# Each ticket's fate from its age and three pseudo-random numbers: most old tickets are
# closed, some rejected, a few reworked; recent ones are mostly open (about 2 % overall).
PLAN_SQL = """
DROP TABLE IF EXISTS seed_plan;
CREATE TEMP TABLE seed_plan ON COMMIT DROP AS
SELECT i, office_id, category_id, created_at, due_at,
  CASE
    WHEN u1 < (CASE WHEN age_d < 1 THEN 0.9 WHEN age_d < 3 THEN 0.5
                    WHEN age_d < 14 THEN 0.1 ELSE 0.01 END)
      THEN (ARRAY['new','accepted','in_progress'])[1 + floor(u2 * 3)::int]
    WHEN u2 < 0.08 THEN 'rejected'
    WHEN created_at + interval '4 days' + make_interval(secs => u3 * 86400) < now() THEN 'closed'
    ELSE 'resolved'
  END AS status,
  u1, u2, u3
FROM seed_src;
ALTER TABLE seed_plan ADD COLUMN first_response_at timestamptz, ADD COLUMN resolved_at timestamptz,
  ADD COLUMN closed_at timestamptz, ADD COLUMN resolution text,
  ADD COLUMN reopen_count int DEFAULT 0;
UPDATE seed_plan SET
  first_response_at = CASE WHEN status <> 'new'
    THEN least(now() - interval '1 minute',
               created_at + make_interval(secs => 60 + u3 * u3 * 86400)) END;
UPDATE seed_plan SET
  resolved_at = CASE WHEN status IN ('resolved','closed')
    THEN least(now() - interval '1 minute',
               first_response_at + make_interval(secs => 600 + u1 * u2 * 5 * 86400)) END,
  resolution = CASE
    WHEN status = 'rejected'
      THEN (ARRAY['duplicate','invalid','not_responsible'])[1 + floor(u3 * 3)::int]
    WHEN status IN ('resolved','closed')
      THEN (CASE WHEN u3 < 0.8 THEN 'fixed' WHEN u3 < 0.9 THEN 'self_resolved'
            ELSE 'unable_to_fix' END)
  END,
  reopen_count = CASE WHEN status IN ('resolved','closed') AND u2 > 0.95 THEN 1 ELSE 0 END;
UPDATE seed_plan SET closed_at = CASE
  WHEN status = 'closed' THEN least(now() - interval '1 second', resolved_at + interval '72 hours')
  WHEN status = 'rejected' THEN first_response_at END;
"""

REPORTS_SQL = """
INSERT INTO reports (id, reporter_id, category_id, description, lat, lon, location_source,
                     needs_attention, source, created_at)
SELECT p.i, :rider, p.category_id, NULL,
       o.min_lat + (o.max_lat - o.min_lat) * p.u2, o.min_lon + (o.max_lon - o.min_lon) * p.u3,
       'given', false, 'app', p.created_at
FROM seed_plan p JOIN offices o ON o.id = p.office_id
"""

TICKETS_SQL = """
INSERT INTO tickets (id, report_id, office_id, category_id, status, resolution, priority, lat, lon,
  location, route_reason, route_distance_m, candidate_office_ids, needs_attention, due_at,
  first_response_at, resolved_at, closed_at, reopen_count, resolved_on_time, version,
  created_at, updated_at)
SELECT p.i, p.i, p.office_id, p.category_id, p.status, p.resolution, 2, r.lat, r.lon,
  ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326), 'inside', 0, '[]'::jsonb, false, p.due_at,
  p.first_response_at, p.resolved_at, p.closed_at, p.reopen_count,
  CASE WHEN p.resolved_at IS NOT NULL THEN p.resolved_at <= p.due_at END, 1,
  p.created_at,
  greatest(p.created_at, coalesce(p.closed_at, p.resolved_at, p.first_response_at, p.created_at))
FROM seed_plan p JOIN reports r ON r.id = p.i
"""

_EV = """INSERT INTO ticket_events (ticket_id, kind, from_status, to_status, actor_role, office_id,
  reason, data, created_at) """
EVENTS_SQL = [
    _EV + "SELECT i, 'created', NULL, 'new', 'rider', office_id, 'inside', '{}', created_at "
    "FROM seed_plan",
    _EV
    + """SELECT i, 'resolved', 'in_progress', 'resolved', 'officer', office_id, resolution, '{}',
      first_response_at + (resolved_at - first_response_at) / 3
      FROM seed_plan WHERE reopen_count = 1""",
    _EV
    + """SELECT i, 'reopened', 'resolved', 'accepted', 'rider', office_id, NULL, '{}',
      first_response_at + (resolved_at - first_response_at) * 2 / 3
      FROM seed_plan WHERE reopen_count = 1""",
    _EV
    + """SELECT i, 'resolved', 'in_progress', 'resolved', 'officer', office_id, resolution, '{}',
      resolved_at FROM seed_plan WHERE resolved_at IS NOT NULL""",
    _EV
    + """SELECT i, 'closed', 'resolved', 'closed', 'system', office_id, 'quiet_period', '{}',
      closed_at FROM seed_plan WHERE status = 'closed'""",
    _EV
    + """SELECT i, 'rejected', 'new', 'rejected', 'officer', office_id, resolution, '{}',
      closed_at FROM seed_plan WHERE status = 'rejected'""",
]


def finish_seed(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        for t in ("reports", "tickets", "ticket_events"):
            c.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}))"
                )
            )
        c.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def rebuild_rollups(url: str, progress: Progress, tickets: int) -> dict[str, Any]:
    from app.core.db import make_engine, make_sessionmaker
    from app.stats.rebuild import Windows, rebuild

    engine = make_engine(url, pool_size=1)
    task = progress.add_task("rebuild rollups", total=tickets * 3.5)
    with make_sessionmaker(engine)() as s:
        report = rebuild(s, Windows(31, 400), progress=lambda _k, n: progress.advance(task, n))
        s.commit()
    progress.update(task, completed=tickets * 3.5)
    engine.dispose()
    return {
        "tickets": report.tickets,
        "events": report.events,
        "rows": report.rows,
        "s": round(report.seconds, 1),
    }


def table_sizes(url: str) -> dict[str, tuple[int, str]]:
    engine = create_engine(url)
    out = {}
    with engine.connect() as c:
        for t in (
            "tickets",
            "stats_cohort",
            "stats_backlog",
            "stats_due",
            "stats_hotspot",
            "stats_flow",
        ):
            n = c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            size = c.execute(
                text(f"SELECT pg_size_pretty(pg_total_relation_size('{t}'))")
            ).scalar_one()
            out[t] = (int(n), str(size))
    engine.dispose()
    return out


# --- write cost ------------------------------------------------------------------------------


def write_cost(url: str, n: int) -> dict[str, float]:
    """ms per ticket change (accept, then resolve) through service.act, one
    transaction each, in alternating blocks of 10 tickets so that load from
    anything else on the machine hits each alike: without the stats listener;
    with it writing the rollups in the change's transaction; and with the
    listener run at the commit as requests do (PostgreSQL: the change leaves
    its deltas pending), the fold of the block's changes timed with them."""
    from sqlalchemy import select

    from app.auth.actor import Actor
    from app.auth.enums import Role
    from app.config import load_settings
    from app.core.db import make_engine, make_sessionmaker, utcnow
    from app.stats.listener import on_ticket_change
    from app.stats.pending import fold_all
    from app.tickets import hooks, service
    from app.tickets.enums import Action, ActorKind
    from app.tickets.models import Ticket

    settings = load_settings()
    engine = make_engine(url, pool_size=2)
    factory = make_sessionmaker(engine)
    with factory() as s:
        admin_id = s.execute(
            text("SELECT id FROM principals WHERE name = 'bench-admin'")
        ).scalar_one()
        ids = list(
            s.scalars(
                select(Ticket.id)
                .where(Ticket.status == "new")
                .order_by(Ticket.id.desc())
                .limit(3 * n)
            )
        )
    admin = Actor(admin_id, "bench-admin", Role.admin, None, None, None)
    steps = ((Action.accept, {}), (Action.resolve, {"resolution": "fixed", "note": "ok"}))
    spent = {"without_listener": 0.0, "with_listener": 0.0, "at_commit_folded": 0.0}
    changes = dict.fromkeys(spent, 0)
    for block in range(0, len(ids), 30):
        for label, batch in (
            ("without_listener", ids[block : block + 10]),
            ("with_listener", ids[block + 10 : block + 20]),
            ("at_commit_folded", ids[block + 20 : block + 30]),
        ):
            if label == "without_listener":
                hooks._LISTENERS.remove(on_ticket_change)
            started = time.perf_counter()
            for tid in batch:
                for action, extra in steps:
                    with factory() as s:
                        t = s.get(Ticket, tid)
                        if label == "at_commit_folded":
                            hooks.defer(s)
                        req = service.ActRequest(action, **extra)
                        kind = ActorKind.admin
                        service.act(
                            s, t, actor=admin, kind=kind, req=req, settings=settings, now=utcnow()
                        )
                        s.commit()
                    changes[label] += 1
            if label == "at_commit_folded":
                fold_all(factory)
            spent[label] += time.perf_counter() - started
            hooks.register(on_ticket_change)
    engine.dispose()
    return {k: spent[k] * 1000 / max(1, changes[k]) for k in spent}


# --- load ------------------------------------------------------------------------------------


def _drive(
    kind: str, url: str, tokens: dict[str, str], concurrency: int, duration: float
) -> dict[str, Any]:
    viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
    # The ETag changes each minute (as_of) and with every ticket change; a dashboard
    # keeps the latest one, and so does this poller.
    etag = [httpx.get(url + "/v1/stats/summary", headers=viewer).headers["etag"]]

    def tiny(c: httpx.Client, n: int) -> httpx.Response:
        return c.get("/healthz")

    def summary(c: httpx.Client, n: int) -> httpx.Response:
        return c.get("/v1/stats/summary", params={"_": n}, headers=viewer)

    def offices(c: httpx.Client, n: int) -> httpx.Response:
        return c.get("/v1/stats/offices", params={"_": n}, headers=viewer)

    def district(c: httpx.Client, n: int) -> httpx.Response:
        return c.get(
            "/v1/stats/summary",
            params={"office": "d07", "category": "road_damage", "_": n},
            headers=viewer,
        )

    def poll(c: httpx.Client, n: int) -> httpx.Response:
        r = c.get("/v1/stats/summary", headers={**viewer, "If-None-Match": etag[0]})
        if r.status_code == 200:
            etag[0] = r.headers["etag"]
        return r

    def me(c: httpx.Client, n: int) -> httpx.Response:
        return c.get("/v1/me", headers=viewer)

    fn = {
        "tiny": tiny,
        "auth_me": me,
        "summary": summary,
        "offices": offices,
        "district": district,
        "poll304": poll,
    }[kind]
    # A poll's 200 (the minute turned) is counted: statuses shows how many there were.
    ok = (304, 200) if kind == "poll304" else (200,)
    res = load.run(
        kind, url, fn, concurrency=concurrency, duration_s=duration, warmup_s=1.5, ok_statuses=ok
    )
    return res.row() | {"statuses": res.statuses}


def drive(kind: str, url: str, tokens: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_drive, (kind, url, tokens, args.concurrency, args.duration))


KINDS = ("tiny", "auth_me", "summary", "offices", "district", "poll304")
COLD = ("summary", "offices", "district")  # again with the answer cache off
ROWS = (*KINDS, *(f"{k}_cold" for k in COLD))


def measure(
    env: dict[str, str], tokens: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kinds, suffix, extra in (
        (KINDS, "", {}),
        (COLD, "_cold", {"GRIDFIX_STATS_CACHE_ITEMS": "0"}),
    ):
        server = gridfix_server({**env, **extra})
        try:
            server.wait_ready("/healthz")
            out.update({k + suffix: drive(k, server.url, tokens, args) for k in kinds})
        finally:
            server.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="10000,1000000")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--write-samples", type=int, default=300)
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    ap.add_argument(
        "--database", default="gridfix_bench_stats", help="scratch database (dropped after)"
    )
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    db = args.database
    admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{db}"'))
    url = make_url(args.pg_url).set(database=db).render_as_string(hide_password=False)
    results: dict[int, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="gridfix-bench-") as tmp:
            env = {
                "GRIDFIX_ENVIRONMENT": "production",
                "GRIDFIX_SECRET_KEY": SECRET,
                "GRIDFIX_DATA_DIR": tmp,
                "GRIDFIX_DATABASE_URL": url,
                "GRIDFIX_STORAGE_URL": f"file://{tmp}/objects",
                "GRIDFIX_JOBS_INTERVAL_S": "0",
                "GRIDFIX_BACKGROUND_WORKERS": "false",
            }
            os.environ.update(env)
            tokens = prepare(url)
            rider = int(
                create_engine(url)
                .connect()
                .execute(text("SELECT id FROM principals WHERE name='bench-rider'"))
                .scalar_one()
            )
            done = 0
            for size in sizes:
                t0 = time.perf_counter()
                with Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
                    TimeElapsedColumn(),
                    console=console,
                ) as progress:
                    seed(url, done + 1, size, rider, progress)
                    finish_seed(url)
                    t_seed = time.perf_counter() - t0
                    rb = rebuild_rollups(url, progress, size)
                done = size
                sizes_info = table_sizes(url)
                console.print(
                    f"[bold]{size:,} tickets[/]: seeded in {t_seed:.0f} s, "
                    f"rollups rebuilt in {rb['s']} s "
                    f"({rb['events']:,} events); rows: "
                    + ", ".join(f"{k} {n:,} ({sz})" for k, (n, sz) in sizes_info.items())
                )
                results[size] = {
                    "load": measure(env, tokens, args),
                    "seed_s": t_seed,
                    "rebuild": rb,
                    "tables": sizes_info,
                }
                if size == sizes[0] and args.write_samples:
                    results[size]["writes"] = write_cost(url, args.write_samples)
            report(results, args)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


def report(results: dict[int, dict[str, Any]], args: argparse.Namespace) -> None:
    console.print(
        f"\n{args.concurrency} clients, {args.duration:g} s each, gridfix with 2 workers, "
        "PostGIS, load from a separate process"
    )
    console.print(
        f"{'tickets':>10} {'request':<14} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
        f" {'÷ tiny':>7} {'÷ auth':>7}"
    )
    for size, r in results.items():
        tiny = r["load"]["tiny"]["rps"]
        auth = r["load"]["auth_me"]["rps"]
        for kind in ROWS:
            row = r["load"][kind]
            ratio = row["rps"] / tiny if tiny else float("nan")
            ratio_auth = row["rps"] / auth if auth else float("nan")
            console.print(
                f"{size:>10,} {kind:<14} {row['rps']:8.0f}"
                f" {row['p50_ms']:8.2f} {row['p99_ms']:8.2f}"
                f" {row['errors']:7d} {ratio:7.2f} {ratio_auth:7.2f}",
                markup=False,
                highlight=False,
            )
        polls = r["load"]["poll304"]["statuses"]
        console.print(
            f"{'':>10} poll304 answers: {polls.get(304, 0)} × 304, {polls.get(200, 0)} × 200"
            " (the minute turned: new as_of, new ETag)",
            markup=False,
        )
    if len(results) >= 2:
        small, big = results[min(results)], results[max(results)]
        console.print(f"\nlatency {max(results):,} ÷ {min(results):,} (aim ≤ 1.5):")
        for kind in ROWS[1:]:
            a, b = small["load"][kind], big["load"][kind]
            console.print(
                f"  {kind:<14} p50 {b['p50_ms'] / a['p50_ms']:.2f}"
                f"  p99 {b['p99_ms'] / a['p99_ms']:.2f}  throughput {b['rps'] / a['rps']:.2f}",
                markup=False,
            )
    for size, r in results.items():
        if "writes" in r:
            w = r["writes"]
            console.print(
                f"\nwrite cost at {size:,} tickets, one client, "
                "accept+resolve through service.act: "
                f"{w['without_listener']:.2f} ms without the stats listener, "
                f"{w['with_listener']:.2f} ms with "
                f"(+{w['with_listener'] - w['without_listener']:.2f} ms a change); "
                f"at the commit, pending and folded as requests do: "
                f"{w['at_commit_folded']:.2f} ms "
                f"(+{w['at_commit_folded'] - w['without_listener']:.2f} ms)",
                markup=False,
            )


if __name__ == "__main__":
    main()
