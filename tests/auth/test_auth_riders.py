"""Rider self-registration, /v1/me, and the privacy of riders' phone numbers."""

from __future__ import annotations

import jwt
import pytest
from sqlalchemy import select

from app.auth.enums import Role
from app.auth.models import Principal
from tests.auth.helpers import assert_problem
from tests.support.factories import auth_header

PHONE = "+86 138-0013-8000"
STORED_PHONE = "+8613800138000"


def test_register_then_me_shows_own_phone(client, settings, session_factory):
    r = client.post("/v1/riders", json={"display_name": "Night courier", "phone": PHONE})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"rider_id", "access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.rider_token_ttl_s
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == settings.rider_token_ttl_s
    assert claims["role"] == "rider" and claims["office"] is None

    me = client.get("/v1/me", headers=auth_header(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["id"] == body["rider_id"]
    assert me.json()["role"] == "rider"
    assert me.json()["phone"] == STORED_PHONE
    assert me.json()["display_name"] == "Night courier"
    assert me.json()["name"].startswith("rider-")
    with session_factory() as s:
        rider = s.get(Principal, body["rider_id"])
        assert rider.password_hash is None and rider.office_id is None


def test_register_with_nothing(client):
    r = client.post("/v1/riders", json={})
    assert r.status_code == 201, r.text
    me = client.get("/v1/me", headers=auth_header(r.json()["access_token"])).json()
    assert me["phone"] is None and me["display_name"] is None


def test_rider_names_are_distinct(client, session_factory):
    for _ in range(5):
        assert client.post("/v1/riders", json={}).status_code == 201
    with session_factory() as s:
        names = s.scalars(select(Principal.name)).all()
    assert len(set(names)) == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "call me"}, "phone"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "+0123456789"}, "phone"),
        ({"phone": "1" * 40}, "phone"),
        ({"display_name": "x" * 201}, "display_name"),
        ({"display_name": "   "}, "display_name"),
        ({"role": "admin"}, "role"),
    ],
)
def test_registration_validation_names_the_field(client, body, field):
    assert_problem(client.post("/v1/riders", json=body), 422, field=field)


def test_riders_cannot_log_in_with_a_password(client):
    rider = client.post("/v1/riders", json={}).json()
    me = client.get("/v1/me", headers=auth_header(rider["access_token"])).json()
    r = client.post("/v1/auth/token", json={"username": me["name"], "password": "anything-at-all"})
    assert_problem(r, 401)


def test_phone_is_never_shown_to_others(client, world):
    rider = client.post("/v1/riders", json={"phone": PHONE}).json()
    admin = world.headers(Role.admin)
    for url in ("/v1/users", "/v1/users?role=rider", "/v1/users?limit=1"):
        r = client.get(url, headers=admin)
        assert r.status_code == 200, r.text
        assert "phone" not in r.text and STORED_PHONE not in r.text
        assert "+8613800000001" not in r.text and "password" not in r.text
    r = client.post(f"/v1/users/{rider['rider_id']}/revoke-tokens", headers=admin)
    assert r.status_code == 200 and "phone" not in r.json()
    # Staff see only themselves at /v1/me.
    for role in (Role.admin, Role.officer, Role.supervisor, Role.viewer):
        r = client.get("/v1/me", headers=world.headers(role))
        assert r.json()["phone"] is None and STORED_PHONE not in r.text
