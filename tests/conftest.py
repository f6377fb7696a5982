"""Shared fixtures: both databases (SQLite file, real PostGIS), both object stores
(local folder, real S3 server), and the app built on any pair of them.

Backends that are absent here skip with a one-line reason, unless
``GRIDFIX_TEST_REQUIRE`` names them (CI sets ``postgis,s3``): then absence fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from app.config import Settings
from app.core.db import Base, make_engine, make_sessionmaker
from app.core.migrate import upgrade
from app.main import create_app
from tests.support.seaweed import S3Server, start_seaweedfs

REQUIRED = {s.strip() for s in os.environ.get("GRIDFIX_TEST_REQUIRE", "").split(",") if s.strip()}
PG_ADMIN_URL = os.environ.get(
    "GRIDFIX_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
DATA_DIR = Path(
    os.environ.get(
        "GRIDFIX_TEST_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    )
).resolve()


def _unavailable(backend: str, reason: str) -> None:
    if backend in REQUIRED:
        pytest.fail(f"{backend} is required (GRIDFIX_TEST_REQUIRE) but unavailable: {reason}")
    pytest.skip(f"{backend} unavailable: {reason}")


# ---------------------------------------------------------------- shared data
@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA_DIR.is_dir():
        pytest.skip(f"shared test data not found at {DATA_DIR} (set GRIDFIX_TEST_DATA)")
    return DATA_DIR


# ---------------------------------------------------------------- databases
def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def postgis_url() -> Iterator[str]:
    name = f"gridfix_test_{_worker()}_{os.getpid()}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        _unavailable("postgis", f"cannot create a database via {PG_ADMIN_URL}: {exc}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url, pool_size=2)
    try:
        upgrade(engine)
    except Exception as exc:
        engine.dispose()
        _unavailable("postgis", f"migrations failed (is PostGIS installed?): {exc}")
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "gridfix.sqlite3"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def truncate_all(engine: Engine) -> None:
    # The authentication epoch's one row stays (it only ever moves forward).
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name != "auth_epoch"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            # Self-referencing rows (office parents) may go in any order.
            conn.execute(text("PRAGMA defer_foreign_keys = ON"))
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))
            if conn.execute(
                text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")
            ).first():
                conn.execute(text("DELETE FROM sqlite_sequence"))


_ENGINES: dict[str, Engine] = {}


def _engine_for(url: str) -> Engine:
    if url not in _ENGINES:
        _ENGINES[url] = make_engine(url, pool_size=4)
    return _ENGINES[url]


@pytest.fixture(params=["sqlite", "postgis"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database on each backend."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    truncate_all(_engine_for(url))
    return url


@pytest.fixture
def engine(db_url: str) -> Engine:
    return _engine_for(db_url)


@pytest.fixture
def session_factory(engine: Engine) -> Any:
    return make_sessionmaker(engine)


# ---------------------------------------------------------------- object stores
@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    endpoint = os.environ.get("GRIDFIX_TEST_S3_ENDPOINT")
    if endpoint:
        yield S3Server(
            endpoint=endpoint,
            access_key=os.environ.get("GRIDFIX_TEST_S3_ACCESS_KEY", "gridfix-test"),
            secret_key=os.environ.get("GRIDFIX_TEST_S3_SECRET_KEY", ""),
        )
        return
    try:
        server = start_seaweedfs()
    except Exception as exc:
        _unavailable("s3", f"could not start SeaweedFS: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_bucket(s3_server: S3Server) -> str:
    import boto3

    bucket = f"gridfix-test-{uuid.uuid4().hex[:8]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=bucket)
    return bucket


def s3_settings(s3_server: S3Server, bucket: str) -> dict[str, Any]:
    return {
        "storage_url": f"s3://{bucket}/t-{uuid.uuid4().hex[:10]}",
        "s3_endpoint_url": s3_server.endpoint,
        "s3_access_key_id": s3_server.access_key,
        "s3_secret_access_key": s3_server.secret_key,
        "s3_region": "us-east-1",
    }


@pytest.fixture(params=["local", "s3"])
def storage_overrides(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Settings for each object store: a fresh local folder, or a fresh prefix on real S3."""
    if request.param == "local":
        return {"storage_url": f"file://{tmp_path / 'objects'}"}
    server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    return s3_settings(server, bucket)


# ---------------------------------------------------------------- the app
@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def _make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "environment": "test",
            "data_dir": tmp_path / "var",
            "secret_key": "test-secret-key-that-is-long-enough-0123456789",
            "public_base_url": "http://testserver",
        }
        base.update(overrides)
        return Settings(**base)

    return _make


@pytest.fixture
def settings(make_settings: Callable[..., Settings], db_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url=db_url, storage_url=f"file://{tmp_path / 'objects'}")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


# ---------------------------------------------------------------- backend accounting
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test by the real servers it uses, so runs can say how many ran."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        names = set(getattr(item, "fixturenames", ()))
        if params.get("db_url") == "postgis" or "postgis_url" in names:
            item.add_marker(pytest.mark.postgis)
        if params.get("storage_overrides") == "s3" or "s3_server" in names:
            item.add_marker(pytest.mark.s3)


_BACKEND_RESULTS: dict[str, dict[str, int]] = {
    "postgis": {"passed": 0, "failed": 0, "skipped": 0},
    "s3": {"passed": 0, "failed": 0, "skipped": 0},
}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    for backend in _BACKEND_RESULTS:
        if backend in report.keywords:
            _BACKEND_RESULTS[backend][report.outcome] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    parts = [
        f"{name}: {r['passed']} passed, {r['failed']} failed, {r['skipped']} skipped"
        for name, r in _BACKEND_RESULTS.items()
    ]
    terminalreporter.write_line("real servers — " + "; ".join(parts))
