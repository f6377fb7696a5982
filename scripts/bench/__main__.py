"""gridfix benchmark: this machine's ceilings and the service, in one run.

    python -m scripts.bench                       # PostGIS + S3 when configured, else SQLite
    python -m scripts.bench --backend sqlite --quick
    python -m scripts.bench --backend postgis --tickets 1000000 --duration 20

Steps: a fresh backend (scratch PostgreSQL database or SQLite file; S3 bucket or
local folder), Jiangmen offices and staff, then

1. ceilings: a bare FastAPI tiny-JSON endpoint and a bare upload → storage →
   INSERT endpoint (same worker count), the database's SELECT 1 round trip, a
   ~300 KB storage PUT;
2. statistics alone with a small number of tickets (10,000);
3. tickets seeded up to --tickets (progress bar), rollups rebuilt;
4. gridfix with production settings and --workers workers; from a separate
   process, each operation alone (closed loop, --concurrency clients), then the
   mix of riders (multipart and direct-upload reports with ~300 KB photos),
   officers (queue pages; accept/start/resolve with If-Match), dashboards
   (stats polls with If-None-Match) and Open311 reads;
5. the earlier single-purpose benchmarks (scripts/bench_*.py).

Prints one table (throughput, p50, p99, ratio to the matching ceiling), peak
RSS per worker and the acceptance checks; writes it all as JSON.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from scripts.bench import ceilings, issues, report, stage
from scripts.bench.fill import fill
from scripts.bench.mix import COMPUTED_OPS, LATENCY_OPS, ONE_CLIENT, SINGLE_OPS, drive_in_process
from scripts.bench.servers import HEALTHCHECK_S, Server, free_port, gridfix_server, peak_rss_mb

PHASES = ("ceilings", "alone", "mix", "issues")
# Wide enough for the table when the output is a file or a CI log.
console = Console(width=None if sys.stdout.isatty() else 140)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m scripts.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--backend",
        choices=("sqlite", "postgis"),
        default=stage.default_backend(),
        help="postgis (+ S3 when configured) or sqlite (+ local folder); default: postgis "
        "when GRIDFIX_BENCH_PG_URL/GRIDFIX_TEST_PG_URL or S3 settings are set, else sqlite",
    )
    ap.add_argument(
        "--pg-url", default=None, help="PostgreSQL admin URL (a scratch database is made)"
    )
    ap.add_argument("--storage", choices=("auto", "s3", "local"), default="auto")
    ap.add_argument(
        "--tickets", type=int, help="tickets to seed (default 1,000,000 PostGIS, 50,000 SQLite)"
    )
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    ap.add_argument("--workers", type=int, default=2, help="service worker processes")
    ap.add_argument("--concurrency", type=int, default=16, help="load clients")
    ap.add_argument("--json", type=Path, help="default: artifacts/bench-<timestamp>.json")
    ap.add_argument("--compare", type=Path, help="an earlier run's JSON to compare with")
    ap.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated subset of {','.join(PHASES)}",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2,000 tickets, 3 s phases, small earlier benchmarks",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.tickets = args.tickets or 2_000
        args.duration = min(args.duration, 3.0)
    args.tickets = args.tickets or (1_000_000 if args.backend == "postgis" else 50_000)
    args.small = min(10_000, args.tickets // 4 if args.quick else args.tickets)
    args.phases = set(args.phases.split(","))
    if unknown := args.phases - set(PHASES):
        ap.error(f"unknown phases {sorted(unknown)}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.json = args.json or stage.ROOT / "artifacts" / f"bench-{stamp}.json"
    return args


def start_service(be: stage.Backend, workers: int, **extra_env: str) -> Server:
    port = free_port()
    env = be.env | {"GRIDFIX_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"} | extra_env
    server = gridfix_server(env, workers=workers, port=port, healthcheck_s=HEALTHCHECK_S)
    try:
        server.wait_ready("/readyz", timeout=120)
    except (RuntimeError, TimeoutError):
        server.stop()
        console.print(Path(server.log.name).read_text()[:4000], markup=False)
        raise
    return server


# How long a benchmark waits for a report phase's derivatives.
DRAIN_TIMEOUT_S = 300.0


def alone(
    server: Server,
    people: stage.People,
    ops: tuple[str, ...],
    args: argparse.Namespace,
    *,
    concurrency: int | None = None,
    suffix: str = "",
    be: stage.Backend | None = None,
    **extra: Any,
) -> list[dict[str, Any]]:
    """Each of ``ops`` alone, closed loop; ``concurrency`` overrides --concurrency
    and ``suffix`` is added to the rows' names. With ``be``, reports are followed
    by a wait for their photos' derivatives."""
    rows: list[dict[str, Any]] = []
    for op in ops:
        spec = {
            "url": server.url,
            "ops": op,
            "concurrency": concurrency or args.concurrency,
            "duration": args.duration,
        } | extra
        console.print(f"  {op}{suffix} …", highlight=False)
        out = drive_in_process(people, spec)["rows"]
        if op.startswith("report") and be is not None:
            # Derivatives are made after the answer: wait for them, so the next
            # operation runs alone, and say what the reports still cost.
            d = stage.drain_derivatives(be.database_url, timeout_s=DRAIN_TIMEOUT_S)
            pending, seconds = d["pending_at_end_of_load"], d["drain_s"]
            if seconds is not None:
                done = f"all made after {seconds:.1f} s"
            else:
                done = f"{d['final'].get('pending')} still pending after {DRAIN_TIMEOUT_S:g} s"
            console.print(
                f"    derivatives: {pending} pending when the load stopped, {done}",
                highlight=False,
            )
            out = [r | {"derivatives_pending": pending, "drain_s": seconds} for r in out]
        rows += [r | {"name": f"{r['name']}{suffix}"} for r in out]
    return rows


def computed(be: stage.Backend, people: stage.People, args: argparse.Namespace) -> list[Any]:
    """Statistics computed from the rollups on every request: a server whose
    answer cache is off, so each poll costs what a poll after a change costs."""
    server = start_service(be, args.workers, GRIDFIX_STATS_CACHE_ITEMS="0")
    try:
        return alone(server, people, COMPUTED_OPS, args)
    finally:
        server.stop()


def accept_pool(be: stage.Backend, people: stage.People, limit: int) -> list[tuple[int, int, str]]:
    """New tickets for 'officer accept' alone (distinct each time), and their officers."""
    from sqlalchemy import create_engine, text

    engine = create_engine(be.database_url)
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT t.id, t.version, o.code FROM tickets t JOIN offices o ON o.id = t.office_id"
                " WHERE t.status = 'new' AND o.level = 'grid' ORDER BY t.id LIMIT :n"
            ),
            {"n": limit},
        ).all()
    engine.dispose()
    people.officers |= stage.officer_tokens_for(be, {r[2] for r in rows} - set(people.officers))
    return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from app.core.db import make_engine

    t_start = time.perf_counter()
    with stage.backend(args.backend, pg_url=args.pg_url, storage=args.storage) as be:
        console.rule(f"[bold]gridfix benchmark[/] — {be.name}")
        people = stage.prepare(be)
        officer_codes = set(people.officers)
        result: dict[str, Any] = {
            "meta": {
                "backend": be.name,
                "tickets": args.tickets,
                "small_tickets": args.small,
                "workers": args.workers,
                "concurrency": args.concurrency,
                "duration_s": args.duration,
                "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "commit": _git_commit(),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "quick": args.quick,
            },
            "ceilings": {},
            "rows": [],
            "rss_peak_mb_per_worker": {},
            "seeding": {},
        }
        if "ceilings" in args.phases:
            console.print("[bold]ceilings[/]")
            bare = ceilings.bare_ceilings(
                be, workers=args.workers, concurrency=args.concurrency, duration=args.duration
            )
            result["rss_peak_mb_per_worker"]["bare app"] = bare["tiny JSON"].pop(
                "peak_rss_mb_per_worker"
            )
            for kind in bare.keys() - {"tiny JSON"}:
                bare[kind].pop("peak_rss_mb_per_worker")
            result["ceilings"] |= bare
            short = min(args.duration, 5.0)
            result["ceilings"]["SELECT 1"] = ceilings.select_one(be, seconds=short)
            result["ceilings"]["storage PUT"] = ceilings.storage_put(
                be, seconds=short, clients=min(8, args.concurrency)
            )
        engine = make_engine(be.database_url, pool_size=1)
        if "alone" in args.phases and args.small < args.tickets:
            result["seeding"][args.small] = fill(engine, args.small, console)
            console.print(f"[bold]statistics alone @{args.small:,} tickets[/]")
            server = start_service(be, args.workers)
            try:
                rows = alone(server, people, ("stats summary", "stats offices"), args)
            finally:
                server.stop()
            rows += computed(be, people, args)
            result["rows"] += report.with_ratios(rows, result["ceilings"], f"alone @{args.small:,}")
        result["seeding"][args.tickets] = fill(engine, args.tickets, console)
        if vacuumed := result["seeding"][args.tickets]["vacuum_s"]:
            console.print(f"VACUUM (ANALYZE) after the load: {vacuumed:g} s")
        engine.dispose()
        pool = accept_pool(be, people, 200_000)
        server = start_service(be, args.workers)
        try:
            if "alone" in args.phases:
                console.print(f"[bold]each operation alone @{args.tickets:,} tickets[/]")
                # A third of the pool each: accept, accept with return=minimal, and
                # accept from one client, so no ticket is accepted twice.
                third = len(pool) // 3
                rows = alone(
                    server,
                    people,
                    SINGLE_OPS,
                    args,
                    be=be,
                    accept_pool=pool[:third],
                    minimal_pool=pool[third : 2 * third],
                )
                rest = pool[2 * third :]
                # One client, back to back: latency without the wait for the two
                # cores that 16 clients' requests mostly spend (the rows above).
                rows += alone(
                    server,
                    people,
                    LATENCY_OPS,
                    args,
                    concurrency=1,
                    suffix=ONE_CLIENT,
                    accept_pool=rest,
                )
                phase = f"alone @{args.tickets:,}"
                result["rows"] += report.with_ratios(rows, result["ceilings"], phase)
            if "mix" in args.phases:
                console.print(f"[bold]mix @{args.tickets:,} tickets[/] ({2 * args.duration:g} s)")
                # The mix's officers work the grids riders report to, not the accept pool's.
                mixed = stage.People(
                    **{
                        **people.__dict__,
                        "officers": {c: people.officers[c] for c in officer_codes},
                    }
                )
                spec = {
                    "url": server.url,
                    "ops": "mix",
                    "concurrency": args.concurrency,
                    "duration": 2 * args.duration,
                }
                out = drive_in_process(mixed, spec)
                result["rows"] += report.with_ratios(out["rows"], result["ceilings"], "mix")
                result["mix_ledger"] = out["ledger"]
            result["rss_peak_mb_per_worker"]["gridfix"] = [
                round(peak_rss_mb(p), 1) for p in server.workers()
            ]
        finally:
            server.stop()
        if "alone" in args.phases:  # after the mix, so one server runs at a time
            rows = computed(be, people, args)
            phase = f"alone @{args.tickets:,}"
            result["rows"] += report.with_ratios(rows, result["ceilings"], phase)
        pg_url = args.pg_url or stage.pg_admin_url() or stage.DEFAULT_PG_URL
    if "issues" in args.phases:
        result["issues"] = issues.run_all(
            console,
            backend=args.backend,
            quick=args.quick,
            tickets=args.tickets,
            duration=args.duration,
            pg_url=pg_url,
        )
    result["checks"] = report.checks(result)
    result["meta"]["seconds"] = round(time.perf_counter() - t_start, 1)
    return result


def _git_commit() -> str | None:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=stage.ROOT
    )
    return out.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    console.rule("[bold]results[/]")
    report.print_table(console, result)
    for name, entry in result.get("issues", {}).items():
        status = "ok" if entry["exit"] == 0 else f"[red]exit {entry['exit']}[/]"
        console.print(f"  {name}: {status} in {entry['seconds']} s", highlight=False)
    report.write_json(args.json, result)
    console.print(f"JSON: {args.json}", highlight=False)
    if args.compare:
        report.compare(console, result, args.compare)
    return 0


if __name__ == "__main__":
    sys.exit(main())
