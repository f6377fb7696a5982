"""Routing benchmark: point → office lookups against thousands of polygons.

Builds a fresh database per backend, imports an N×N lattice of square office
polygons (default 72×72 = 5,184) under one root, then routes random points
(95 % inside, 5 % just outside the lattice, so the nearest-office path runs
too) and times each lookup next to a bare ``SELECT 1`` through the same session.

    python scripts/bench_routing.py                      # SQLite, and PostGIS if reachable
    python scripts/bench_routing.py --points 100000 --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Prints p50/p99 per lookup and the ratio p50 / SELECT-1 p50 (aim: ≤ 3).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.db import make_engine, make_sessionmaker
from app.core.migrate import upgrade
from app.grids.importer import ImportOptions
from app.grids.service import GridRouter, import_boundaries
from app.grids.synthetic import square_grid

ORIGIN = (112.95, 22.45)  # south-west corner, inside Jiangmen


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def lattice_geojson(n: int, cell_m: float) -> str:
    feats = []
    for r, c, poly in square_grid(*ORIGIN, n, cell_m):
        feats.append(
            {
                "type": "Feature",
                "properties": {"code": f"G{r:03d}{c:03d}", "name": f"grid {r},{c}"},
                "geometry": poly.__geo_interface__,
            }
        )
    return json.dumps({"type": "FeatureCollection", "features": feats})


def run_backend(label: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    engine = make_engine(url, pool_size=2)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    t0 = time.perf_counter()
    with factory() as s:
        report = import_boundaries(s, lattice_geojson(args.n, args.cell_m), ImportOptions())
        s.commit()
    import_s = time.perf_counter() - t0
    offices = len(report.created) + len(report.updated)

    rng = random.Random(args.seed)
    router = GridRouter(tolerance_m=150, border_margin_m=25)
    from app.core.geo import metres_to_degrees

    span_lon, span_lat = metres_to_degrees(args.n * args.cell_m, ORIGIN[1])
    points = []
    for _ in range(args.points):
        if rng.random() < 0.05:  # just outside the east edge
            out_lon, _ = metres_to_degrees(rng.uniform(1, 140), ORIGIN[1])
            points.append((ORIGIN[0] + span_lon + out_lon, ORIGIN[1] + rng.random() * span_lat))
        else:
            points.append(
                (ORIGIN[0] + rng.random() * span_lon, ORIGIN[1] + rng.random() * span_lat)
            )

    lookups: list[float] = []
    pings: list[float] = []
    routed = 0
    with factory() as s:
        for lon, lat in points[: min(2000, len(points))]:  # warm-up: connections, caches, plans
            router.decide(s, lon, lat)
            s.execute(text("SELECT 1"))
        perf = time.perf_counter
        for i, (lon, lat) in enumerate(points):
            t = perf()
            d = router.decide(s, lon, lat)
            lookups.append(perf() - t)
            routed += d is not None
            if i % 10 == 0:
                t = perf()
                s.execute(text("SELECT 1")).scalar()
                pings.append(perf() - t)
        s.rollback()
    engine.dispose()
    res = {
        "offices": offices,
        "import_s": import_s,
        "points": len(points),
        "routed": routed,
        "lookup_p50_ms": pct(lookups, 50) * 1e3,
        "lookup_p99_ms": pct(lookups, 99) * 1e3,
        "lookup_mean_ms": statistics.fmean(lookups) * 1e3,
        "select1_p50_ms": pct(pings, 50) * 1e3,
        "select1_p99_ms": pct(pings, 99) * 1e3,
    }
    res["ratio_p50"] = res["lookup_p50_ms"] / res["select1_p50_ms"]
    print(
        f"{label:8} offices={offices:5d} import={import_s:6.1f}s"
        f" points={len(points)} routed={routed}"
        f"  lookup p50={res['lookup_p50_ms']:.3f} ms p99={res['lookup_p99_ms']:.3f} ms"
        f"  SELECT 1 p50={res['select1_p50_ms']:.3f} ms p99={res['select1_p99_ms']:.3f} ms"
        f"  ratio p50={res['ratio_p50']:.2f}  (aim <= 3)",
        flush=True,
    )
    return res


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--n", type=int, default=72, help="lattice side (n*n offices)")
    ap.add_argument("--cell-m", type=float, default=400.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--pg-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="admin URL; a scratch database is created and dropped",
    )
    ap.add_argument("--backends", default="sqlite,postgis")
    ap.add_argument("--json", type=Path, help="also write results here")
    args = ap.parse_args()
    results: dict[str, dict[str, float]] = {}
    if "sqlite" in args.backends:
        with tempfile.TemporaryDirectory() as d:
            results["sqlite"] = run_backend("sqlite", f"sqlite:///{d}/bench.sqlite3", args)
    if "postgis" in args.backends:
        name = "gridfix_bench_routing"
        admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                c.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            print(f"postgis  skipped: {exc.__class__.__name__}: {exc}".splitlines()[0])
        else:
            url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
            try:
                results["postgis"] = run_backend("postgis", url, args)
            finally:
                with admin.connect() as c:
                    c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
