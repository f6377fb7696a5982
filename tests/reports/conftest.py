"""A Jiangmen world for intake tests: districts, the default categories, a few people,
and the app on each database × each object store."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.auth.enums import Role
from app.categories.service import ensure_defaults
from app.config import Settings
from app.core.geo import CRS
from app.grids import repository as grid_repo
from app.grids.importer import ImportOptions
from app.grids.service import import_boundaries
from app.main import create_app
from tests.grids.conftest import JIANGMEN
from tests.support.factories import auth_header, make_principal, token_for

PENGJIANG = (22.5802, 113.0805)  # WGS-84, central Pengjiang (440703)
XINHUI = (22.4590, 113.0340)  # WGS-84, Xinhui (440705)


@dataclass
class World:
    client: TestClient
    settings: Settings
    headers: dict[str, dict[str, str]]

    def post_report(
        self,
        who: str = "rider",
        *,
        files: list[tuple[str, bytes]] | None = None,
        key: str | None = None,
        **form: Any,
    ) -> httpx.Response:
        data = {k: v for k, v in {"category": "road_damage", **form}.items() if v is not None}
        multipart = [
            ("photos", (name, blob, "application/octet-stream")) for name, blob in files or []
        ]
        headers = dict(self.headers[who])
        if key:
            headers["Idempotency-Key"] = key
        return self.client.post("/v1/reports", data=data, files=multipart or None, headers=headers)

    def fetch(self, url: str) -> httpx.Response:
        """GET a photo URL: the local store's URLs go through the app, S3's to the server."""
        if url.startswith("http://testserver"):
            return self.client.get(url)
        return httpx.get(url)

    def wait_ready(
        self, report_id: int, who: str = "rider", timeout: float = 20.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body = self.client.get(f"/v1/reports/{report_id}", headers=self.headers[who]).json()
            if all(p["status"] != "pending" for p in body["photos"]):
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"derivatives not ready: {body['photos']}")
            time.sleep(0.05)


@pytest.fixture
def make_world(
    make_settings, db_url, session_factory, storage_overrides, data_dir
) -> Iterator[Callable[..., World]]:
    clients: list[TestClient] = []

    def _make(**overrides: Any) -> World:
        settings = make_settings(database_url=db_url, **{**storage_overrides, **overrides})
        with session_factory() as s:
            if grid_repo.get_by_code(s, "440703") is None:
                import_boundaries(
                    s,
                    (data_dir / JIANGMEN).read_bytes(),
                    ImportOptions(crs=CRS.gcj02, code_property="adcode", level="district"),
                )
                ensure_defaults(s)
                make_principal(s, "rider-one", Role.rider)
                make_principal(s, "rider-two", Role.rider)
                make_principal(s, "officer-pj", Role.officer, grid_repo.get_by_code(s, "440703"))
                make_principal(s, "officer-xh", Role.officer, grid_repo.get_by_code(s, "440705"))
                make_principal(s, "viewer", Role.viewer, grid_repo.get_by_code(s, "440703"))
                s.commit()
            from app.auth.repository import get_principal_by_name

            headers = {
                who: auth_header(token_for(settings, get_principal_by_name(s, name)))
                for who, name in [
                    ("rider", "rider-one"),
                    ("rider2", "rider-two"),
                    ("officer", "officer-pj"),
                    ("officer_other", "officer-xh"),
                    ("viewer", "viewer"),
                ]
            }
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        return World(client, settings, headers)

    yield _make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def world(make_world) -> World:
    return make_world()
