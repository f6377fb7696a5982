"""Admin endpoints: creating users, listing principals, API keys."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.auth.enums import Role
from app.auth.models import ApiKey
from tests.auth.helpers import assert_problem
from tests.support.factories import api_key_header, make_principal

GOOD = {"name": "zhang.min", "password": "ten-chars!", "role": "officer", "office_code": "grid-b1"}


def test_create_officer_then_log_in(client, world):
    r = client.post(
        "/v1/users", json=GOOD | {"display_name": "Zhang Min"}, headers=world.headers(Role.admin)
    )
    assert r.status_code == 201, r.text
    assert r.json() == {
        "id": r.json()["id"],
        "name": "zhang.min",
        "display_name": "Zhang Min",
        "role": "officer",
        "office_id": world.offices["grid-b1"].id,
        "office_code": "grid-b1",
    }
    login = client.post("/v1/auth/token", json={"username": "zhang.min", "password": "ten-chars!"})
    assert login.status_code == 200 and login.json()["role"] == "officer"


def test_create_admin_without_office(client, world):
    body = {"name": "second.admin", "password": "ten-chars!", "role": "admin"}
    r = client.post("/v1/users", json=body, headers=world.headers(Role.admin))
    assert r.status_code == 201, r.text
    assert r.json()["office_id"] is None


@pytest.mark.parametrize("name", ["zhang.min", "ZHANG.MIN"])
def test_duplicate_name_is_a_conflict(client, world, name):
    admin = world.headers(Role.admin)
    assert client.post("/v1/users", json=GOOD, headers=admin).status_code == 201
    assert_problem(client.post("/v1/users", json=GOOD | {"name": name}, headers=admin), 409)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"office_code": None}, "office_code"),
        ({"role": "supervisor", "office_code": None}, "office_code"),
        ({"role": "viewer", "office_code": None}, "office_code"),
        ({"role": "admin"}, "office_code"),
        ({"office_code": "nowhere"}, "office_code"),
        ({"office_code": "x" * 65}, "office_code"),
        ({"role": "rider"}, "role"),
        ({"role": "superuser"}, "role"),
        ({"password": "nine-char"}, "password"),
        ({"password": "x" * 257}, "password"),
        ({"name": "ab"}, "name"),
        ({"name": "has space"}, "name"),
        ({"name": "rider-impostor"}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"display_name": "x" * 201}, "display_name"),
        ({"is_admin": True}, "is_admin"),
    ],
)
def test_create_user_validation_names_the_field(client, world, change, field):
    body = {k: v for k, v in (GOOD | change).items() if v is not None}
    r = client.post("/v1/users", json=body, headers=world.headers(Role.admin))
    assert_problem(r, 422, field=field)


def test_list_users_pages_by_id(client, world, session_factory):
    with session_factory() as s:
        for i in range(7):
            make_principal(s, f"extra{i}", Role.viewer, world.offices["grid-a1"])
        s.commit()
    admin = world.headers(Role.admin)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        r = client.get("/v1/users", params=params, headers=admin)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 3
        seen += [p["id"] for p in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 12
    assert pages == 4


def test_list_users_filters(client, world):
    admin = world.headers(Role.admin)
    r = client.get("/v1/users", params={"role": "supervisor"}, headers=admin)
    assert [p["name"] for p in r.json()["items"]] == ["sup.a"]
    r = client.get("/v1/users", params={"office_code": "grid-a1"}, headers=admin)
    assert [(p["name"], p["office_code"]) for p in r.json()["items"]] == [("off.a1", "grid-a1")]
    r = client.get("/v1/users", params={"office_code": "grid-a2"}, headers=admin)
    assert r.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 201}, "limit"),
        ({"limit": 0}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"role": "king"}, "role"),
        ({"office_code": "nowhere"}, "office_code"),
    ],
)
def test_list_users_validation(client, world, params, field):
    assert_problem(
        client.get("/v1/users", params=params, headers=world.headers(Role.admin)), 422, field=field
    )


def test_cursor_from_another_list_is_refused(client, world, session_factory):
    admin = world.headers(Role.admin)
    for _ in range(2):
        client.post(
            "/v1/api-keys",
            json={"principal_id": world.principals[Role.officer].id, "name": "k"},
            headers=admin,
        )
    cursor = client.get("/v1/api-keys", params={"limit": 1}, headers=admin).json()["next_cursor"]
    assert cursor
    assert_problem(
        client.get("/v1/users", params={"cursor": cursor}, headers=admin), 422, field="cursor"
    )


def test_revoke_tokens_of_unknown_principal(client, world):
    assert_problem(
        client.post("/v1/users/99999/revoke-tokens", headers=world.headers(Role.admin)), 404
    )


# ---------------------------------------------------------------- API keys
def test_api_key_lifecycle(client, world, session_factory):
    admin = world.headers(Role.admin)
    viewer = world.principals[Role.viewer]
    r = client.post(
        "/v1/api-keys", json={"principal_id": viewer.id, "name": "wall screen"}, headers=admin
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["cache-control"] == "no-store"
    plaintext = created["key"]
    assert plaintext.startswith(f"gfk_{created['prefix']}_")
    with session_factory() as s:
        stored = s.scalar(select(ApiKey.secret_hash))
    assert plaintext.split("_", 2)[2] not in stored

    me = client.get("/v1/me", headers=api_key_header(plaintext))
    assert me.json()["id"] == viewer.id

    listed = client.get("/v1/api-keys", params={"principal_id": viewer.id}, headers=admin).json()
    assert [k["id"] for k in listed["items"]] == [created["id"]]
    assert "key" not in listed["items"][0] and plaintext not in str(listed)
    assert "secret_hash" not in listed["items"][0]

    gone = client.delete(f"/v1/api-keys/{created['id']}", headers=admin)
    assert gone.status_code == 200 and gone.json()["revoked_at"] is not None
    again = client.delete(f"/v1/api-keys/{created['id']}", headers=admin)
    assert again.json()["revoked_at"] == gone.json()["revoked_at"]
    assert client.get("/v1/me", headers=api_key_header(plaintext)).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"principal_id": 99999, "name": "k"}, "principal_id"),
        ({"principal_id": 0, "name": "k"}, "principal_id"),
        ({"name": "k"}, "principal_id"),
        ({"principal_id": 1, "name": ""}, "name"),
        ({"principal_id": 1, "name": "x" * 101}, "name"),
    ],
)
def test_create_api_key_validation(client, world, body, field):
    assert_problem(
        client.post("/v1/api-keys", json=body, headers=world.headers(Role.admin)), 422, field=field
    )


def test_riders_cannot_hold_api_keys(client, world):
    body = {"principal_id": world.principals[Role.rider].id, "name": "k"}
    r = client.post("/v1/api-keys", json=body, headers=world.headers(Role.admin))
    assert_problem(r, 422, field="principal_id")


def test_revoke_unknown_api_key(client, world):
    assert_problem(client.delete("/v1/api-keys/424242", headers=world.headers(Role.admin)), 404)
