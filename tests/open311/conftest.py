"""An Open311 world: Jiangmen districts, the default catalogue plus a service with
every attribute datatype, a partner principal with an API key, a viewer with one,
and the app with the adapter installed — on SQLite and on PostGIS."""

from __future__ import annotations

import dataclasses
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point
from sqlalchemy import select

from app.auth.enums import Role
from app.auth.models import Principal
from app.categories.models import Category
from app.categories.service import ensure_defaults
from app.config import Settings
from app.core.db import mark_writer
from app.core.geo import CRS
from app.grids import repository as grid_repo
from app.grids.importer import ImportOptions
from app.grids.service import import_boundaries
from app.main import create_app
from app.open311.config import Open311Config
from app.open311.router import install
from app.reports.models import Report
from app.tickets.models import Ticket, TicketEvent
from tests.grids.conftest import JIANGMEN
from tests.support.factories import make_api_key, make_principal

PREFIX = "/open311/v2"
PENGJIANG = (22.5802, 113.0805)  # WGS-84, central Pengjiang
OUTSIDE = (39.9042, 116.4074)  # Beijing: no office here

ALL_TYPES = [
    {"code": "label", "datatype": "string", "required": False, "variable": True,
     "description": "Short label", "order": 1, "values": []},
    {"code": "depth_cm", "datatype": "number", "required": True, "variable": True,
     "description": "Depth in cm", "order": 2, "values": []},
    {"code": "seen_at", "datatype": "datetime", "required": False, "variable": True,
     "description": "When was it seen?", "order": 3, "values": []},
    {"code": "details", "datatype": "text", "required": False, "variable": True,
     "description": "Anything else", "order": 4, "values": []},
    {"code": "size", "datatype": "singlevaluelist", "required": True, "variable": True,
     "description": "How big?", "order": 5,
     "values": [{"key": "small", "name": "Small"}, {"key": "large", "name": "Large"}]},
    {"code": "hazards", "datatype": "multivaluelist", "required": False, "variable": True,
     "description": "Which hazards?", "order": 6,
     "values": [{"key": "glass", "name": "Glass"}, {"key": "oil", "name": "Oil"},
                {"key": "nails", "name": "Nails"}]},
    {"code": "note", "datatype": "string", "required": False, "variable": False,
     "description": "Information only: crews attend within a day.", "order": 7, "values": []},
]  # fmt: skip


@dataclass
class World:
    client: TestClient
    settings: Settings
    key: str  # a partner's API key (an officer of Pengjiang)
    viewer_key: str
    session_factory: Any

    def url(self, path: str) -> str:
        return PREFIX + path

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(self.url(path), params=params)

    def post(
        self,
        fmt: str = "json",
        *,
        files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
        headers: dict[str, str] | None = None,
        key: str | None = "default",
        **form: Any,
    ) -> httpx.Response:
        """POST requests.{fmt}; ``form`` values None are left out, lists repeat the key."""
        data: dict[str, Any] = {
            "service_code": "other",
            "lat": PENGJIANG[0],
            "long": PENGJIANG[1],
            "description": "A hole in the cycle lane",
        }
        if key is not None:
            data["api_key"] = self.key if key == "default" else key
        data.update(form)
        data = {k: v for k, v in data.items() if v is not None}
        return self.client.post(
            self.url(f"/requests.{fmt}"), data=data, files=files, headers=headers or {}
        )

    def created_id(self, response: httpx.Response) -> str:
        assert response.status_code == 200, response.text
        return response.json()[0]["service_request_id"]

    def wait_for_media(self, request_id: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            item = self.get(f"/requests/{request_id}.json").json()[0]
            if item.get("media_url"):
                return item
            if time.monotonic() > deadline:
                raise AssertionError(f"media_url never appeared: {item}")
            time.sleep(0.05)


@pytest.fixture
def make_world(
    make_settings, db_url, session_factory, data_dir, tmp_path
) -> Iterator[Callable[..., World]]:
    clients: list[TestClient] = []

    def _make(*, settings_changes: dict[str, Any] | None = None, **config_changes: Any) -> World:
        settings = make_settings(
            database_url=db_url,
            storage_url=f"file://{tmp_path / 'objects'}",
            **(settings_changes or {}),
        )
        with session_factory() as s:
            mark_writer(s)
            import_boundaries(
                s,
                (data_dir / JIANGMEN).read_bytes(),
                ImportOptions(crs=CRS.gcj02, code_property="adcode", level="district"),
            )
            ensure_defaults(s)
            s.add(
                Category(
                    code="all_types",
                    name_zh="测试",
                    name_en="Every datatype",
                    group_code="test",
                    description="A service with one attribute of each datatype",
                    sla_hours=24,
                    photo_required=False,
                    evidence_required=False,
                    active=True,
                    sort_order=1000,
                    keywords=["test", "测试"],
                    attributes=ALL_TYPES,
                )
            )
            office = grid_repo.get_by_code(s, "440703")
            partner = make_principal(s, "partner-fms", Role.officer, office)
            viewer = make_principal(s, "viewer-one", Role.viewer, office)
            key, viewer_key = make_api_key(s, partner), make_api_key(s, viewer)
            s.commit()
        config = Open311Config.from_settings(settings)
        fetch_changes = config_changes.pop("media_fetch", {})
        config = dataclasses.replace(
            config,
            media_fetch=dataclasses.replace(config.media_fetch, **fetch_changes),
            **config_changes,
        )
        app = create_app(settings)
        install(app, settings, config)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return World(client, settings, key, viewer_key, session_factory)

    yield _make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def world(make_world) -> World:
    return make_world()


def xml_root(response: httpx.Response) -> ET.Element:
    return ET.fromstring(response.content)


def add_reports(
    session_factory: Any,
    count: int,
    *,
    category: str = "other",
    status: str = "new",
    created_at: datetime | None = None,
) -> list[int]:
    """Insert ``count`` reports with their tickets directly (fast), as intake would."""
    created_at = created_at or datetime.now(UTC)
    with session_factory() as s:
        mark_writer(s)
        cat = s.scalar(select(Category).where(Category.code == category))
        office = grid_repo.get_by_code(s, "440703")
        reporter = s.scalar(select(Principal).where(Principal.name == "partner-fms"))
        reports = [
            Report(reporter_id=reporter.id, category_id=cat.id, description=f"bulk {i}",
                   lat=PENGJIANG[0], lon=PENGJIANG[1], location_source="given",
                   needs_attention=False, source="app", created_at=created_at)
            for i in range(count)
        ]  # fmt: skip
        s.add_all(reports)
        s.flush()
        s.add_all(
            Ticket(report_id=r.id, office_id=office.id, category_id=cat.id, status=status,
                   priority=2, lat=r.lat, lon=r.lon, location=Point(r.lon, r.lat),
                   route_reason="inside", route_distance_m=0.0, candidate_office_ids=[],
                   needs_attention=False, due_at=created_at + timedelta(hours=72),
                   reopen_count=0, created_at=created_at, updated_at=created_at)
            for r in reports
        )  # fmt: skip
        s.commit()
        return [r.id for r in reports]


def set_ticket(session_factory: Any, request_id: str | int, **values: Any) -> None:
    """Change a request's ticket (and, for created_at, its report) behind the API's back."""
    with session_factory() as s:
        mark_writer(s)
        ticket = s.scalar(select(Ticket).where(Ticket.report_id == int(request_id)))
        for name, value in values.items():
            setattr(ticket, name, value)
        if "created_at" in values:
            s.get(Report, int(request_id)).created_at = values["created_at"]
        s.commit()


def add_event(session_factory: Any, request_id: str | int, **values: Any) -> int:
    """Append a ticket event (what the officer workflow will write)."""
    with session_factory() as s:
        mark_writer(s)
        ticket = s.scalar(select(Ticket).where(Ticket.report_id == int(request_id)))
        event = TicketEvent(ticket_id=ticket.id, data={}, created_at=datetime.now(UTC))
        for name, value in values.items():
            setattr(event, name, value)
        s.add(event)
        s.commit()
        return event.id
