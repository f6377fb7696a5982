"""A small city of square offices for officer-workflow tests.

city (113.00–113.04, 22.50–22.52)
├── d1 (113.00–113.02)      supervisor sup-d1
│   ├── ga (113.00–113.01)  officers off-a, off-a2
│   └── gb (113.01–113.02)  officer off-b
└── d2 (113.02–113.04)
    ├── gc (113.02–113.03)  officer off-c
    └── gd (113.03–113.04)
supervisor sup-city and viewer at the city; admin; riders r1, r2.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box

from app.auth.enums import Role
from app.categories.service import ensure_defaults
from app.config import Settings
from app.main import create_app
from tests.support.factories import auth_header, make_office, make_principal, token_for
from tests.support.photos import jpeg

A_SPOT = (22.51, 113.005)  # inside ga, far from borders
C_SPOT = (22.51, 113.025)  # inside gc
AB_BORDER = (22.51, 113.01005)  # ~5 m inside ga from gb: a border ticket


@dataclass
class City:
    client: TestClient
    settings: Settings
    h: dict[str, dict[str, str]]
    office_ids: dict[str, int]

    def report(
        self,
        spot: tuple[float, float] = A_SPOT,
        category: str = "road_damage",
        who: str = "r1",
        seed: int = 0,
        *,
        description: str | None = None,
        photos: int = 1,
    ) -> int:
        seed = seed or id(spot) % 1000
        data = {"category": category, "lat": spot[0], "lon": spot[1]}
        r = self.client.post(
            "/v1/reports",
            data=data | ({"description": description} if description is not None else {}),
            files=[
                ("photos", (f"{i}.jpg", jpeg(seed=seed + i), "image/jpeg")) for i in range(photos)
            ],
            headers=self.h[who],
        )
        assert r.status_code == 201, r.text
        return int(r.json()["ticket"]["id"])

    def get(self, tid: int, who: str) -> httpx.Response:
        return self.client.get(f"/v1/tickets/{tid}", headers=self.h[who])

    def etag(self, tid: int, who: str = "admin") -> str:
        r = self.get(tid, who)
        assert r.status_code == 200, r.text
        return r.headers["etag"]

    def act(
        self, tid: int, action: str, who: str, *, etag: str | None = None, **body: Any
    ) -> httpx.Response:
        tag = etag if etag is not None else self.etag(tid)
        headers = {**self.h[who], "If-Match": tag} if tag else dict(self.h[who])
        return self.client.post(f"/v1/tickets/{tid}/{action}", json=body or None, headers=headers)

    def resolve(
        self,
        tid: int,
        who: str,
        *,
        resolution: str = "fixed",
        note: str = "patched",
        photos: list[bytes] | None = None,
        **form: Any,
    ) -> httpx.Response:
        headers = {**self.h[who], "If-Match": self.etag(tid)}
        files = [("photos", (f"{i}.jpg", p, "image/jpeg")) for i, p in enumerate(photos or [])]
        return self.client.post(
            f"/v1/tickets/{tid}/resolve",
            headers=headers,
            data={"resolution": resolution, "note": note, **form},
            files=files or None,
        )


def after_photo(spot: tuple[float, float] = A_SPOT, *, minutes: int = 30, seed: int = 99) -> bytes:
    """An after photo taken at ``spot``, ``minutes`` from now."""
    return jpeg(
        lat=spot[0],
        lon=spot[1],
        seed=seed,
        captured_at=datetime.now(UTC) + timedelta(minutes=minutes),
    )


@pytest.fixture
def make_city(make_settings, db_url, session_factory, tmp_path) -> Iterator[Any]:
    clients: list[TestClient] = []

    def _make(**overrides: Any) -> City:
        settings = make_settings(
            database_url=db_url,
            storage_url=f"file://{tmp_path}/objects",
            reports_per_hour=0,
            jobs_interval_s=0,
            **overrides,
        )
        with session_factory() as s:
            city = make_office(
                s, "city", "City", boundary=box(113.00, 22.50, 113.04, 22.52), level="city"
            )
            d1 = make_office(
                s,
                "d1",
                "District 1",
                city,
                boundary=box(113.00, 22.50, 113.02, 22.52),
                level="district",
            )
            d2 = make_office(
                s,
                "d2",
                "District 2",
                city,
                boundary=box(113.02, 22.50, 113.04, 22.52),
                level="district",
            )
            ga = make_office(s, "ga", "Grid A", d1, boundary=box(113.00, 22.50, 113.01, 22.52))
            gb = make_office(s, "gb", "Grid B", d1, boundary=box(113.01, 22.50, 113.02, 22.52))
            gc = make_office(s, "gc", "Grid C", d2, boundary=box(113.02, 22.50, 113.03, 22.52))
            gd = make_office(s, "gd", "Grid D", d2, boundary=box(113.03, 22.50, 113.04, 22.52))
            for o in (city, d1, d2, ga, gb, gc, gd):
                from app.grids.importer import spherical_area_m2

                o.area_m2 = spherical_area_m2(o.boundary)
            ensure_defaults(s)
            people = {
                "admin": make_principal(s, "root", Role.admin),
                "sup_city": make_principal(s, "sup-city", Role.supervisor, city),
                "sup_d1": make_principal(s, "sup-d1", Role.supervisor, d1),
                "off_a": make_principal(s, "off-a", Role.officer, ga, display_name="Officer Wang"),
                "off_a2": make_principal(s, "off-a2", Role.officer, ga),
                "off_b": make_principal(s, "off-b", Role.officer, gb),
                "off_c": make_principal(s, "off-c", Role.officer, gc),
                "viewer": make_principal(s, "view", Role.viewer, city),
                "r1": make_principal(s, "rider-1", Role.rider),
                "r2": make_principal(s, "rider-2", Role.rider),
            }
            s.commit()
            ids = {o.code: o.id for o in (city, d1, d2, ga, gb, gc, gd)}
            headers = {k: auth_header(token_for(settings, p)) for k, p in people.items()}
        headers["anon"] = {}
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        return City(client, settings, headers, ids)

    yield _make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def city(make_city) -> City:
    return make_city()
