"""This machine's ceilings, measured in the same run as the service.

- ``tiny JSON``: a bare FastAPI endpoint returning a small dict (same worker count),
  also from one client (``tiny JSON, 1 client``: the latency tail of the machine
  itself, beside the service's one-client rows);
- ``bare upload``: multipart photo → the same object store → one INSERT (bare_app.py);
- ``SELECT 1``: one client's round trip to the configured database;
- ``storage PUT``: a ~300 KB object written to the configured store (S3 or folder).

An operation of the service divided by its ceiling says how much of what the
machine can do at all the service delivers.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from scripts.bench import load
from scripts.bench.servers import HEALTHCHECK_S, bare_server, peak_rss_mb
from scripts.bench.stage import Backend

TINY_ONE = "tiny JSON, 1 client"


def _drive_bare(kind: str, url: str, concurrency: int, duration: float) -> dict[str, Any]:
    from scripts.bench.mix import report_photo, unique

    base = report_photo()

    def tiny(c: httpx.Client, n: int) -> httpx.Response:
        return c.get("/tiny")

    def bare(c: httpx.Client, n: int) -> httpx.Response:
        return c.post("/bare", files={"photo": ("p.jpg", unique(base), "image/jpeg")})

    fn = bare if kind == "bare upload" else tiny
    res = load.run(kind, url, fn, concurrency=concurrency, duration_s=duration)
    return res.row() | {"statuses": res.statuses}


def bare_ceilings(
    be: Backend, *, workers: int, concurrency: int, duration: float
) -> dict[str, dict[str, Any]]:
    import multiprocessing as mp

    out: dict[str, dict[str, Any]] = {}
    server = bare_server(be.env, workers=workers, healthcheck_s=HEALTHCHECK_S)
    try:
        server.wait_ready("/tiny")
        # Also tiny JSON from one client: the machine's own latency tail, next to
        # which the one-client rows of the service are read.
        runs = (("tiny JSON", concurrency), ("bare upload", concurrency), (TINY_ONE, 1))
        for kind, clients in runs:
            with mp.get_context("spawn").Pool(1) as pool:
                out[kind] = pool.apply(_drive_bare, (kind, server.url, clients, duration))
        rss = [round(peak_rss_mb(p), 1) for p in server.workers()]
        for row in out.values():
            row["peak_rss_mb_per_worker"] = rss
    finally:
        server.stop()
    return out


def _row(name: str, latencies: list[float], seconds: float, clients: int) -> dict[str, Any]:
    res = load.Result(name, ok=len(latencies), seconds=seconds, latencies=latencies)
    return res.row() | {"clients": clients}


def select_one(be: Backend, *, seconds: float) -> dict[str, Any]:
    """One connection, ``SELECT 1`` back to back (after a short warm-up)."""
    from app.core.db import make_engine

    engine = make_engine(be.database_url, pool_size=1)
    lat: list[float] = []
    with engine.connect() as c:
        for _ in range(200):
            c.execute(text("SELECT 1")).scalar()
        start = time.perf_counter()
        while (t0 := time.perf_counter()) - start < seconds:
            c.execute(text("SELECT 1")).scalar()
            lat.append(time.perf_counter() - t0)
    engine.dispose()
    return _row("SELECT 1", lat, seconds, 1)


def storage_put(be: Backend, *, seconds: float, clients: int) -> dict[str, Any]:
    """``clients`` threads writing distinct ~300 KB objects; removed after."""
    os.environ.update(be.env)
    from app.config import load_settings
    from app.photos.storage import build_storage
    from scripts.bench.mix import report_photo

    storage = build_storage(load_settings())
    base = report_photo()
    lat: list[float] = []
    keys: list[str] = []
    lock = threading.Lock()
    start = time.perf_counter()
    warm_until = start + min(1.0, seconds / 4)
    stop = warm_until + seconds

    def worker() -> None:
        while (t0 := time.perf_counter()) < stop:
            key = f"bench-ceiling/{uuid.uuid4().hex}"
            storage.put(key, base, content_type="image/jpeg", size=len(base))
            dt = time.perf_counter() - t0
            with lock:
                keys.append(key)
                if t0 >= warm_until:
                    lat.append(dt)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    storage.delete_many(keys)
    return _row("storage PUT", lat, seconds, clients)
