"""Fixtures for the catalogue: the app with the categories router, one caller per role,
and a database holding the default catalogue."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.routing import NoMatchFound

from app.auth.enums import Role
from app.categories import service
from app.categories.router import router as categories_router
from app.config import Settings
from app.main import create_app
from tests.support.factories import auth_header, make_office, make_principal, token_for

ROLES = ["anonymous", "rider", "officer", "supervisor", "viewer", "admin"]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    # Until app/main.py mounts the router, mount it here; afterwards this is a no-op.
    try:
        app.url_path_for("get_category", code="x")
    except NoMatchFound:
        app.include_router(categories_router, prefix="/v1")
    with TestClient(app) as c:
        yield c


@pytest.fixture
def headers(session_factory, settings: Settings) -> dict[str, dict[str, str]]:
    """Request headers per role name; "anonymous" sends no credential."""
    with session_factory() as s:
        office = make_office(s, "grid-1", "Grid 1")
        people = {
            "rider": make_principal(s, "rider-1", Role.rider),
            "officer": make_principal(s, "officer-1", Role.officer, office),
            "supervisor": make_principal(s, "supervisor-1", Role.supervisor, office),
            "viewer": make_principal(s, "viewer-1", Role.viewer, office),
            "admin": make_principal(s, "admin-1", Role.admin),
        }
        s.commit()
        tokens = {role: auth_header(token_for(settings, p)) for role, p in people.items()}
    return {"anonymous": {}} | tokens


@pytest.fixture
def seeded(session_factory) -> int:
    """The default catalogue, committed; returns how many categories were inserted."""
    with session_factory() as s:
        inserted = service.ensure_defaults(s)
        s.commit()
    return inserted
