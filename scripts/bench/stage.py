"""Where a benchmark or soak runs: the backend it talks to, and the people in it.

``backend("postgis")`` creates a scratch database (dropped after) and uses S3 when it
is configured (``GRIDFIX_BENCH_S3_*``, else ``GRIDFIX_TEST_S3_*``), else starts a
SeaweedFS server when the ``weed`` binary is installed, else uses a local folder.
``backend("sqlite")`` is the embedded default: a SQLite file and a local object folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
# Long and random enough for production settings; only ever used on loopback.
SECRET = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SCRATCH_DB = "gridfix_bench"
NO_EVIDENCE = ("waterlogging", "street_light_out", "other")


def pg_admin_url() -> str | None:
    """The PostgreSQL server to benchmark on, when one is configured."""
    return os.environ.get("GRIDFIX_BENCH_PG_URL") or os.environ.get("GRIDFIX_TEST_PG_URL")


def s3_from_env() -> tuple[str, str, str] | None:
    for prefix in ("GRIDFIX_BENCH_S3_", "GRIDFIX_TEST_S3_"):
        endpoint = os.environ.get(prefix + "ENDPOINT")
        if endpoint:
            return endpoint, os.environ[prefix + "ACCESS_KEY"], os.environ[prefix + "SECRET_KEY"]
    return None


def default_backend() -> str:
    return "postgis" if pg_admin_url() or s3_from_env() else "sqlite"


def data_dir() -> Path:
    from app.seed import default_data_dir

    return Path(os.environ.get("GRIDFIX_TEST_DATA") or default_data_dir())


@dataclass
class Backend:
    name: str  # "sqlite-local", "postgis-s3" or "postgis-local"
    env: dict[str, str]  # the service's settings
    database_url: str
    tmp: Path

    @property
    def dialect(self) -> str:
        return "postgresql" if self.database_url.startswith("postgresql") else "sqlite"


def production_env(tmp: Path) -> dict[str, str]:
    """Settings as in production: real secret, background workers and jobs on. The
    per-rider limit stays on but far above what a benchmark's riders send, so its cost
    is paid and it never answers 429."""
    return {
        "GRIDFIX_ENVIRONMENT": "production",
        "GRIDFIX_SECRET_KEY": SECRET,
        "GRIDFIX_DATA_DIR": str(tmp),
        "GRIDFIX_REPORTS_PER_HOUR": "1000000",
        "GRIDFIX_OPEN311_REPORTS_PER_HOUR": "1000000",
        "GRIDFIX_PUBLIC_BASE_URL": "http://127.0.0.1:8000",
    }


@contextmanager
def backend(kind: str, *, pg_url: str | None = None, storage: str = "auto") -> Iterator[Backend]:
    """A fresh, empty backend for one run; everything it made is removed after."""
    tmp = Path(tempfile.mkdtemp(prefix="gridfix-bench-"))
    env = production_env(tmp)
    seaweed = None
    admin = None
    try:
        if kind == "sqlite":
            url = f"sqlite:///{tmp}/bench.sqlite3"
            env |= {"GRIDFIX_DATABASE_URL": url, "GRIDFIX_STORAGE_URL": f"file://{tmp}/objects"}
            yield Backend("sqlite-local", env, url, tmp)
            return
        if kind != "postgis":
            raise SystemExit(f"unknown backend {kind!r} (sqlite or postgis)")
        admin = create_engine(
            pg_url or pg_admin_url() or DEFAULT_PG_URL, isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{SCRATCH_DB}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{SCRATCH_DB}"'))
        url = make_url(str(admin.url.render_as_string(hide_password=False)))
        db_url = url.set(database=SCRATCH_DB).render_as_string(hide_password=False)
        env["GRIDFIX_DATABASE_URL"] = db_url
        s3 = s3_from_env() if storage in ("auto", "s3") else None
        if s3 is None and storage in ("auto", "s3") and shutil.which("weed"):
            from tests.support.seaweed import start_seaweedfs

            seaweed = start_seaweedfs()
            s3 = seaweed.endpoint, seaweed.access_key, seaweed.secret_key
        if s3 is None and storage == "s3":
            raise SystemExit("--storage s3: no S3 configured and no weed binary to start one")
        if s3 is not None:
            env |= {
                "GRIDFIX_STORAGE_URL": f"s3://bench-{uuid.uuid4().hex[:8]}",
                "GRIDFIX_S3_ENDPOINT_URL": s3[0],
                "GRIDFIX_S3_ACCESS_KEY_ID": s3[1],
                "GRIDFIX_S3_SECRET_ACCESS_KEY": s3[2],
                "GRIDFIX_S3_CREATE_BUCKET": "true",
            }
            yield Backend("postgis-s3", env, db_url, tmp)
        else:
            env["GRIDFIX_STORAGE_URL"] = f"file://{tmp}/objects"
            yield Backend("postgis-local", env, db_url, tmp)
    finally:
        if seaweed is not None:
            seaweed.stop()
        if admin is not None:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{SCRATCH_DB}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class People:
    """Tokens and places a load driver needs (picklable, sent to the load process)."""

    riders: list[str]
    officers: dict[str, str]  # grid office code → its officer's token
    viewer: str
    admin: str
    points: list[tuple[float, float, str]]  # (lat, lon, office code) inside grids
    extra: dict[str, Any] = field(default_factory=dict)


def prepare(be: Backend, *, riders: int = 200, grids: int = 24) -> People:
    """Migrate, load Jiangmen offices and staff (as ``gridfix seed-demo``), make riders.

    Reports go to ``grids`` grid offices (one point in each), so their officers'
    queues fill up the way a busy part of town does."""
    os.environ.update(be.env)
    from sqlalchemy import select

    from app.auth.enums import Role
    from app.auth.models import Principal
    from app.auth.repository import get_principal_by_name
    from app.auth.tokens import issue_token
    from app.config import load_settings
    from app.core.db import make_engine, make_sessionmaker
    from app.core.migrate import upgrade
    from app.grids.models import Office
    from scripts.bench.seed import seed_offices

    settings = load_settings()
    engine = make_engine(be.database_url, pool_size=1)
    upgrade(engine)
    seed_offices(engine, data_dir())
    ttl = 7 * 86400
    with make_sessionmaker(engine)() as s:
        offices = list(
            s.scalars(select(Office).where(Office.level == "grid").order_by(Office.code))
        )
        step = max(1, len(offices) // grids)
        chosen = offices[::step][:grids]
        points, officers = [], {}
        for o in chosen:
            assert o.boundary is not None
            p = o.boundary.representative_point()
            points.append((p.y, p.x, o.code))
            officer = get_principal_by_name(s, f"officer-{o.code.lower()}")
            assert officer is not None
            officers[o.code] = issue_token(settings, officer, ttl)[0]
        tokens = []
        for i in range(riders):
            p = Principal(name=f"bench-rider-{i}", role=Role.rider, active=True, token_version=0)
            s.add(p)
            s.flush()
            tokens.append(issue_token(settings, p, ttl)[0])
        viewer = get_principal_by_name(s, "city-viewer")
        admin = get_principal_by_name(s, "admin")
        assert viewer is not None and admin is not None
        people = People(
            riders=tokens,
            officers=officers,
            viewer=issue_token(settings, viewer, ttl)[0],
            admin=issue_token(settings, admin, ttl)[0],
            points=points,
        )
        s.commit()
    engine.dispose()
    return people


def officer_tokens_for(be: Backend, codes: set[str]) -> dict[str, str]:
    """Tokens for the officers of these grid offices (for tickets seeded anywhere)."""
    from app.auth.repository import get_principal_by_name
    from app.auth.tokens import issue_token
    from app.config import load_settings
    from app.core.db import make_engine, make_sessionmaker

    settings = load_settings()
    engine = make_engine(be.database_url, pool_size=1)
    out = {}
    with make_sessionmaker(engine)() as s:
        for code in codes:
            p = get_principal_by_name(s, f"officer-{code.lower()}")
            if p is not None:
                out[code] = issue_token(settings, p, 7 * 86400)[0]
    engine.dispose()
    return out


def derivative_backlog(database_url: str) -> dict[str, int]:
    """Photos by derivative status, read straight from the database."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as c:
            rows = c.execute(
                text("SELECT derivatives_status, count(*) FROM photos GROUP BY derivatives_status")
            ).all()
    finally:
        engine.dispose()
    return {str(status): int(n) for status, n in rows}


def drain_derivatives(database_url: str, timeout_s: float) -> dict[str, Any]:
    """After a load: how many photos still wait for derivatives, and how long the
    server takes to finish them (the queue first, then the periodic scan);
    ``drain_s`` is None when ``timeout_s`` ran out first."""
    start = time.monotonic()
    at_end = derivative_backlog(database_url)
    counts = at_end
    while counts.get("pending", 0) and time.monotonic() - start < timeout_s:
        time.sleep(0.5)
        counts = derivative_backlog(database_url)
    return {
        "pending_at_end_of_load": at_end.get("pending", 0),
        "drain_s": round(time.monotonic() - start, 1) if not counts.get("pending") else None,
        "final": counts,
    }
