"""A world for fault injection: real PostGIS, an S3 server of our own that tests may
kill and restart, and the service run as a real process where a test needs one.

Every test here is ``slow``; they share one SeaweedFS (started once, about 10 s)
and each gets a fresh bucket and an emptied database.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from shapely.geometry import box
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.auth.enums import Role
from app.categories.service import ensure_defaults
from app.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.photos.models import Photo, Upload
from tests.conftest import _unavailable, truncate_all
from tests.support.factories import auth_header, make_office, make_principal, token_for
from tests.support.faults import (
    Service,
    bucket_keys,
    kill_s3,
    restart_s3,
    s3_client,
    write_sentinel,
)
from tests.support.photos import jpeg
from tests.support.seaweed import S3Server, start_seaweedfs

LAT, LON = 22.5802, 113.0805  # WGS-84, central Pengjiang
RIDERS = 4
# Every module here: slow, and on both real servers (for the run's backend tally).
MARKS = [pytest.mark.slow, pytest.mark.postgis, pytest.mark.s3]


@pytest.fixture(scope="session")
def fault_s3() -> Iterator[S3Server]:
    """Our own SeaweedFS: tests here stop it, so the shared one is never touched."""
    # The weed binary comes with the test extras, next to this interpreter.
    path = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), path])
    try:
        server = start_seaweedfs()
    except Exception as exc:
        _unavailable("s3", f"could not start SeaweedFS: {exc}")
    finally:
        os.environ["PATH"] = path
    write_sentinel(server)
    yield server
    kill_s3(server)  # its data is thrown away: no need to wait for a clean shutdown
    server.stop()


@pytest.fixture
def s3(fault_s3: S3Server) -> Iterator[S3Server]:
    """The server, running; whatever a test did to it, it is running again afterwards."""
    yield fault_s3
    assert fault_s3.process is not None
    if fault_s3.process.poll() is not None:
        restart_s3(fault_s3)


@dataclass
class FaultWorld:
    db_url: str
    engine: Engine
    sessions: sessionmaker[Session]
    s3: S3Server
    bucket: str
    settings: Settings
    env: dict[str, str]
    tokens: list[str]
    tmp: Path
    services: list[Service] = field(default_factory=list)

    def headers(self, rider: int = 0, key: str | None = None) -> dict[str, str]:
        out = auth_header(self.tokens[rider])
        if key is not None:
            out["Idempotency-Key"] = key
        return out

    def report_form(
        self, seed: int
    ) -> tuple[dict[str, str], list[tuple[str, tuple[str, bytes, str]]]]:
        """Form fields and one small, distinct photo for an httpx multipart request."""
        data = {"category": "road_damage", "lat": str(LAT), "lon": str(LON)}
        photo = jpeg(lat=LAT, lon=LON, size=(160, 120), seed=seed)
        return data, [("photos", (f"p{seed}.jpg", photo, "image/jpeg"))]

    def start_service(self, *, workers: int = 1, name: str = "service") -> Service:
        service = Service(self.env, self.tmp / f"{name}-{len(self.services)}.log", workers=workers)
        self.services.append(service)
        service.wait_ready()
        return service

    def count(self, model: Any) -> int:
        with self.sessions() as s:
            return int(s.scalar(select(func.count()).select_from(model)) or 0)

    def referenced_keys(self) -> set[str]:
        """Every object a row needs: photos' originals and derivatives, live uploads."""
        with self.sessions() as s:
            keys: set[str] = set()
            for original, display, thumb in s.execute(
                select(Photo.original_key, Photo.display_key, Photo.thumb_key)
            ):
                keys.update(k for k in (original, display, thumb) if k)
            keys.update(
                s.scalars(
                    select(Upload.object_key).where(
                        Upload.status == "pending", Upload.expires_at > func.now()
                    )
                )
            )
            return keys

    def pending_derivatives(self) -> int:
        with self.sessions() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(Photo)
                    .where(Photo.derivatives_status == "pending")
                )
                or 0
            )

    def objects(self) -> set[str]:
        return bucket_keys(self.s3, self.bucket)


@pytest.fixture
def fault_world(
    postgis_url: str, s3: S3Server, make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[FaultWorld]:
    engine = make_engine(postgis_url, pool_size=2)
    truncate_all(engine)
    sessions = make_sessionmaker(engine)
    bucket = f"gridfix-faults-{uuid.uuid4().hex[:8]}"
    s3_client(s3).create_bucket(Bucket=bucket)
    overrides: dict[str, Any] = {
        "database_url": postgis_url,
        "database_pool_size": 4,
        "storage_url": f"s3://{bucket}",
        "s3_endpoint_url": s3.endpoint,
        "s3_access_key_id": s3.access_key,
        "s3_secret_access_key": s3.secret_key,
        "s3_region": "us-east-1",
        "reports_per_hour": 0,
        "jobs_interval_s": 0,
    }
    settings = make_settings(**overrides)
    env = {
        f"GRIDFIX_{name.upper()}": str(value)
        for name, value in {
            **overrides,
            "environment": "test",
            "data_dir": tmp_path / "var",
            "secret_key": settings.secret_key.get_secret_value(),
            "public_base_url": settings.public_base_url,
        }.items()
    }
    with sessions() as s:
        make_office(
            s, "440703", "Pengjiang", boundary=box(112.9, 22.4, 113.3, 22.8), level="district"
        )
        ensure_defaults(s)
        riders = [make_principal(s, f"rider-{i}", Role.rider) for i in range(RIDERS)]
        s.commit()
        tokens = [token_for(settings, r) for r in riders]
    world = FaultWorld(postgis_url, engine, sessions, s3, bucket, settings, env, tokens, tmp_path)
    try:
        yield world
    finally:
        for service in world.services:
            service.close()
        engine.dispose()


def problem_503(response: httpx.Response) -> None:
    """A clean, retryable refusal: 503 problem+json with a Retry-After in seconds."""
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["status"] == 503
