"""Schemathesis over the app's own OpenAPI document: every /v1 operation, as each role.

For each operation and each role (rider, officer, supervisor, viewer, admin)
Schemathesis generates valid and invalid requests from the declared schema
(fixed seed, deterministic, a small number of examples) and checks that the
answer is never a 5xx, that its status code is one the operation documents,
and that its body and media type match what is documented for that status.

The app runs on an embedded SQLite file and a local object folder, seeded with
a small office tree, the default categories, one person per role and one
report, so some generated ids exist.

Left out, and why:
* ``GET /v1/events/stream`` — Server-Sent Events: the response stays open until
  the stream's lifetime ends, so one example would take the whole budget; the
  stream has its own tests (tests/events/test_stream.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python.asgi import shutdown_lifespans
from shapely.geometry import box

from app.auth.enums import Role
from app.categories.service import ensure_defaults
from app.config import Settings
from app.core.db import make_engine, make_sessionmaker
from app.core.migrate import upgrade
from app.grids.importer import spherical_area_m2
from app.main import create_app
from tests.support.factories import auth_header, make_office, make_principal, token_for
from tests.support.photos import jpeg

pytestmark = pytest.mark.slow

SEED = 20240611
# Per operation and role; 54 operations x 5 roles stay within about three minutes on 2 cores.
MAX_EXAMPLES = 6
ROLES = ("rider", "officer", "supervisor", "viewer", "admin")
SPOT = (22.51, 113.005)  # inside the grid office "ga"
EXCLUDED_PATHS = ("/v1/events/stream",)

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        # Coverage enumerates every boundary value of every parameter: far beyond the budget.
        # Stateful runs need links between operations, which the document does not declare.
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }
)


def _document() -> dict[str, Any]:
    # The document does not depend on the database or the store: build it from a bare app.
    app = create_app(Settings(environment="test", background_workers=False))
    return app.openapi()


schema = (
    schemathesis.openapi.from_dict(_document(), config=CONFIG)
    .include(path_regex=r"^/v1/")
    .exclude(path=list(EXCLUDED_PATHS))
)


class Seeded:
    def __init__(self, app: FastAPI, headers: dict[str, dict[str, str]]) -> None:
        self.app = app
        self.headers = headers


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{root / 'gridfix.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    settings = Settings(
        environment="test",
        database_url=url,
        storage_url=f"file://{root / 'objects'}",
        data_dir=root / "var",
        secret_key="fuzz-secret-key-that-is-long-enough-0123456789",
        public_base_url="http://testserver",
        background_workers=False,
        jobs_interval_s=0,
        reports_per_hour=0,
        open311_reports_per_hour=0,
    )
    with make_sessionmaker(engine)() as s:
        city = make_office(
            s, "city", "City", boundary=box(113.00, 22.50, 113.04, 22.52), level="city"
        )
        d1 = make_office(s, "d1", "D1", city, box(113.00, 22.50, 113.02, 22.52), level="district")
        ga = make_office(s, "ga", "GA", d1, box(113.00, 22.50, 113.01, 22.52))
        gb = make_office(s, "gb", "GB", d1, box(113.01, 22.50, 113.02, 22.52))
        for office in (city, d1, ga, gb):
            office.area_m2 = spherical_area_m2(office.boundary)
        ensure_defaults(s)
        people = {
            "rider": make_principal(s, "rider", Role.rider),
            "officer": make_principal(s, "officer", Role.officer, ga),
            "supervisor": make_principal(s, "supervisor", Role.supervisor, d1),
            "viewer": make_principal(s, "viewer", Role.viewer, city),
            "admin": make_principal(s, "admin", Role.admin),
        }
        s.commit()
        headers = {role: auth_header(token_for(settings, p)) for role, p in people.items()}
    engine.dispose()
    app = create_app(settings)
    world = Seeded(app, headers)
    from starlette.testclient import TestClient

    with TestClient(app) as client:
        r = client.post(
            "/v1/reports",
            data={"category": "road_damage", "lat": SPOT[0], "lon": SPOT[1]},
            files=[("photos", ("p.jpg", jpeg(seed=3), "image/jpeg"))],
            headers=headers["rider"],
        )
        assert r.status_code == 201, r.text
    try:
        yield world
    finally:
        shutdown_lifespans()


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
def test_every_operation_as_every_role(case: schemathesis.Case, role: str, seeded: Seeded) -> None:
    case.call_and_validate(
        app=seeded.app,
        headers=seeded.headers[role],
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
