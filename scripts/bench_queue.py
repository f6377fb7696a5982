"""Officer workflow benchmark on PostGIS: work-queue pages, `accept`, and an
Open311 `GET requests.json` of 1000 results, with up to a million tickets, next
to a bare FastAPI tiny-JSON endpoint (and gridfix's own /healthz) in the same run.

    python scripts/bench_queue.py --tickets 1000000 --duration 15

Seeds a scratch database (Jiangmen offices and staff as `gridfix seed-demo`,
then tickets in bulk SQL), starts gridfix with 2 workers (``--workers``), and drives load from
a separate process. Aims: queue page p99 < 10 ms; accept ≥ 0.2 × tiny JSON.

The server folds pending statistics changes every second, as in production
(``GRIDFIX_STATS_FOLD_INTERVAL_S``), so each accept row counts the rollup work
its changes cause.

``--reuse`` keeps the database between runs and seeds it only when it holds
fewer tickets than asked (migrations still run); each run accepts tickets
that are still new, so a reused database only drifts slowly.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from scripts.bench import cpu, load
from scripts.bench.fill import settle
from scripts.bench.seed import seed_offices, seed_tickets
from scripts.bench.servers import HEALTHCHECK_S, bare_server, gridfix_server, peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("GRIDFIX_TEST_DATA", ROOT.parent / "shared" / "data"))
SECRET = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"

QUEUES = {
    # name → (who, query)
    "queue grid officer": ("officer", "status=new,accepted,in_progress&sort=priority&limit=50"),
    "queue district sup.": ("district", "overdue=true&sort=due&limit=50"),
    "queue city sup.": ("city", "status=new&category=road_damage&sort=age&limit=50"),
}
# accept with Prefer: return=minimal (204 and the new ETag, no ticket in the answer)
MINIMAL = "accept, return=minimal"


def _drive(
    name: str, url: str, tokens: dict[str, str], ids: list[int], conc: int, dur: float
) -> dict[str, Any]:
    def tiny(c: httpx.Client, n: int) -> httpx.Response:
        return c.get("/tiny")

    def healthz(c: httpx.Client, n: int) -> httpx.Response:
        return c.get("/healthz")

    def queue(c: httpx.Client, n: int) -> httpx.Response:
        who, q = QUEUES[name]
        return c.get(f"/v1/tickets?{q}", headers={"Authorization": f"Bearer {tokens[who]}"})

    def accept(c: httpx.Client, n: int) -> httpx.Response:
        tid = ids[n % len(ids)]
        return c.post(
            f"/v1/tickets/{tid}/accept",
            headers={"Authorization": f"Bearer {tokens['admin']}", "If-Match": f'"t{tid}-v1"'},
        )

    def accept_minimal(c: httpx.Client, n: int) -> httpx.Response:
        # From the other end of the list: never a ticket the row above accepted.
        tid = ids[-1 - n % len(ids)]
        return c.post(
            f"/v1/tickets/{tid}/accept",
            headers={
                "Authorization": f"Bearer {tokens['admin']}",
                "If-Match": f'"t{tid}-v1"',
                "Prefer": "return=minimal",
            },
        )

    def open311(c: httpx.Client, n: int) -> httpx.Response:
        return c.get("/open311/v2/requests.json?page_size=1000")

    fns = {
        "tiny json (bare)": tiny,
        "healthz (gridfix)": healthz,
        "accept": accept,
        MINIMAL: accept_minimal,
    }
    fn = fns.get(name, open311 if name == "open311 1000" else queue)
    ok = (204,) if name == MINIMAL else (200, 201)
    res = load.run(name, url, fn, concurrency=conc, duration_s=dur, ok_statuses=ok)
    return res.row() | {"statuses": res.statuses}


def drive(*args: Any) -> dict[str, Any]:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_drive, args)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2, help="of both servers")
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database")
    ap.add_argument("--db", default="gridfix_bench_queue", help="scratch database name")
    ap.add_argument(
        "--reuse", action="store_true", help="reuse (and keep) a seeded scratch database"
    )
    ap.add_argument("--only", help="comma list of operations to run (default: all)")
    ap.add_argument(
        "--background-workers",
        action="store_true",
        help="run gridfix's background workers and jobs, as in production (default: off)",
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    db = args.db
    admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        exists = c.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": db}).first()
        fresh = not (args.reuse and exists)
        if fresh:
            c.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{db}"'))
    url = make_url(args.pg_url).set(database=db).render_as_string(hide_password=False)
    tmp = tempfile.mkdtemp(prefix="gridfix-bench-")
    env = {
        "GRIDFIX_ENVIRONMENT": "production",
        "GRIDFIX_SECRET_KEY": SECRET,
        "GRIDFIX_DATABASE_URL": url,
        "GRIDFIX_STORAGE_URL": f"file://{tmp}/objects",
        "GRIDFIX_DATA_DIR": tmp,
        "GRIDFIX_BACKGROUND_WORKERS": "true" if args.background_workers else "false",
    }
    os.environ.update(env)
    from app.auth.repository import get_principal_by_name
    from app.auth.tokens import issue_token
    from app.config import load_settings
    from app.core.db import make_engine, make_sessionmaker
    from app.core.migrate import upgrade

    engine = make_engine(url, pool_size=2)
    upgrade(engine)
    with engine.connect() as c:
        have = 0 if fresh else int(c.execute(text("SELECT count(*) FROM tickets")).scalar() or 0)
    if fresh:
        seed_offices(engine, DATA)
    if have < args.tickets:
        seconds = seed_tickets(engine, args.tickets - have)
        print(f"seeded {args.tickets - have:,} tickets in {seconds:.0f} s", flush=True)
        print(f"vacuumed in {settle(engine):.0f} s (no autovacuum under the load)")
    else:
        print(f"reusing {db}: {have:,} tickets")
    settings = load_settings()
    with make_sessionmaker(engine)() as s:
        names = {
            "officer": "officer-440703-g001",
            "district": "supervisor-440703",
            "city": "city-supervisor",
            "admin": "admin",
        }
        tokens = {
            k: issue_token(settings, get_principal_by_name(s, v), 86400)[0]
            for k, v in names.items()
        }
        ids = list(
            s.scalars(
                text("SELECT id FROM tickets WHERE status = 'new' ORDER BY id DESC LIMIT 200000")
            )
        )
    engine.dispose()

    names = ["tiny json (bare)", "healthz (gridfix)", *QUEUES, "accept", MINIMAL, "open311 1000"]
    if args.only:
        wanted = {n.strip() for n in args.only.split(",")}
        names = [n for n in names if n == names[0] or any(w in n for w in wanted)]
    rows: list[dict[str, Any]] = []
    # The bare app alone first, so the two servers never compete for the cores.
    bare = bare_server(env, workers=args.workers, healthcheck_s=HEALTHCHECK_S)
    try:
        bare.wait_ready("/tiny", timeout=180)
        rows.append(drive(names[0], bare.url, tokens, ids, args.concurrency, args.duration))
    finally:
        bare.stop()
    server = gridfix_server(env, workers=args.workers, healthcheck_s=HEALTHCHECK_S)
    try:
        server.wait_ready("/readyz", timeout=180)
        for name in names[1:]:
            rows.append(drive(name, server.url, tokens, ids, args.concurrency, args.duration))
        rss = [round(peak_rss_mb(p), 1) for p in server.worker_pids()]
    finally:
        server.stop()
        if not (args.keep or args.reuse):
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    tiny = rows[0]["rps"]
    print(
        f"\n{args.tickets:,} tickets on PostGIS, {args.workers} workers, "
        f"{args.concurrency} clients, {args.duration:g} s each"
    )
    print(
        f"  {'operation':22} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'x tiny':>7} {'errors':>6}"
    )
    for r in rows:
        print(
            f"  {r['name']:22} {r['rps']:8.1f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
            f"{r['rps'] / tiny:7.3f} {r['errors']:6d}"
        )
    for r in rows:
        print(f"  CPU ms a request, {r['name']}: {cpu.describe(r.get('cpu_ms'))}")
    print(f"  peak RSS per worker: {rss} MiB;  aims: queue p99 < 10 ms, accept >= 0.2 x tiny")
    if args.json:
        args.json.write_text(
            json.dumps({"tickets": args.tickets, "rows": rows, "rss": rss}, indent=2)
        )


if __name__ == "__main__":
    main()
