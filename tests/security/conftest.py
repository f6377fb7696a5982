"""A small city for hostile-input tests, on each database x each object store.

city ─┬─ d1 ─┬─ ga   officer off_a, supervisor sup_d1 (d1)
      │      └─ gb
      └─ d2 ── gc
plus a viewer at the city, an admin and two riders. Square offices, so no
shared data is needed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box
from sqlalchemy import func, select

from app.auth.enums import Role
from app.categories.service import ensure_defaults
from app.config import Settings
from app.grids.importer import spherical_area_m2
from app.main import create_app
from app.photos.models import Photo
from app.reports.models import Report
from app.tickets.models import Ticket
from tests.support.factories import auth_header, make_office, make_principal, token_for
from tests.support.photos import jpeg

SPOT = (22.51, 113.005)  # inside ga, far from its borders


@dataclass
class Site:
    client: TestClient
    settings: Settings
    h: dict[str, dict[str, str]]
    session_factory: Any

    @property
    def storage(self) -> Any:
        return self.client.app.state.storage  # type: ignore[attr-defined]

    def report(
        self,
        who: str = "r1",
        *,
        files: list[tuple[str, bytes, str]] | None = None,
        **form: Any,
    ) -> httpx.Response:
        data = {"category": "road_damage", "lat": SPOT[0], "lon": SPOT[1], **form}
        data = {k: v for k, v in data.items() if v is not None}
        if files is None:
            files = [("p.jpg", jpeg(seed=7), "image/jpeg")]
        multipart = [("photos", f) for f in files]
        return self.client.post(
            "/v1/reports", data=data, files=multipart or None, headers=self.h[who]
        )

    def counts(self) -> tuple[int, int, int]:
        """Reports, tickets, photos."""
        with self.session_factory() as s:
            return tuple(  # type: ignore[return-value]
                s.scalar(select(func.count()).select_from(m)) for m in (Report, Ticket, Photo)
            )

    def objects(self) -> list[str]:
        return sorted(o.key for o in self.storage.list(""))

    def fetch(self, url: str, **kw: Any) -> httpx.Response:
        """GET a photo URL: the local store's through the app, S3's from the server."""
        if url.startswith("http://testserver"):
            return self.client.get(url, **kw)
        return httpx.get(url, **kw)


@pytest.fixture
def spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where uploads spill to disk during a test (Starlette spools parts over 1 MB)."""
    folder = tmp_path / "spool"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def leftovers(site: Site, spool: Path) -> list[str]:
    """Everything a refused request could leave behind: objects, temp files, spooled parts."""
    found = [f"object:{k}" for k in site.objects()]
    if site.settings.storage_kind == "local":
        root = site.settings.local_storage_dir
        found += [f"temp:{p.name}" for p in root.rglob(".tmp-*")] if root.exists() else []
    found += [f"spool:{p.name}" for p in spool.iterdir()]
    return found


@pytest.fixture
def make_site(
    make_settings: Callable[..., Settings],
    db_url: str,
    session_factory: Any,
    storage_overrides: dict[str, Any],
) -> Iterator[Callable[..., Site]]:
    clients: list[TestClient] = []

    def _make(**overrides: Any) -> Site:
        settings = make_settings(
            database_url=db_url,
            reports_per_hour=0,
            jobs_interval_s=0,
            **{**storage_overrides, **overrides},
        )
        with session_factory() as s:
            city = make_office(
                s, "city", "City", None, box(113.00, 22.50, 113.04, 22.52), level="city"
            )
            d1 = make_office(
                s, "d1", "D1", city, box(113.00, 22.50, 113.02, 22.52), level="district"
            )
            d2 = make_office(
                s, "d2", "D2", city, box(113.02, 22.50, 113.04, 22.52), level="district"
            )
            ga = make_office(s, "ga", "Grid A", d1, box(113.00, 22.50, 113.01, 22.52))
            gb = make_office(s, "gb", "Grid B", d1, box(113.01, 22.50, 113.02, 22.52))
            gc = make_office(s, "gc", "Grid C", d2, box(113.02, 22.50, 113.03, 22.52))
            for o in (city, d1, d2, ga, gb, gc):
                o.area_m2 = spherical_area_m2(o.boundary)
            ensure_defaults(s)
            people = {
                "admin": make_principal(s, "root", Role.admin),
                "sup_d1": make_principal(s, "sup-d1", Role.supervisor, d1),
                "off_a": make_principal(s, "off-a", Role.officer, ga),
                "viewer": make_principal(s, "view", Role.viewer, city),
                "r1": make_principal(s, "rider-1", Role.rider),
                "r2": make_principal(s, "rider-2", Role.rider),
            }
            s.commit()
            headers = {k: auth_header(token_for(settings, p)) for k, p in people.items()}
        headers["anon"] = {}
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        return Site(client, settings, headers, session_factory)

    yield _make
    for c in clients:
        c.__exit__(None, None, None)


def sqlite_and_local(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a test on one backend pair only: what it checks does not depend on them."""
    fn = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)(fn)
    return pytest.mark.parametrize("storage_overrides", ["local"], indirect=True)(fn)
