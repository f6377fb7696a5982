"""Every admin endpoint against every role: table-driven, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from app.auth.enums import Role
from tests.auth.conftest import ROLES, World
from tests.auth.helpers import assert_problem
from tests.support.factories import make_api_key


@dataclass(frozen=True)
class Call:
    method: str
    path: Callable[[World, int], str]
    body: Callable[[World], dict[str, Any]] | None
    ok: int


ADMIN_CALLS = {
    "create-user": Call(
        "POST",
        lambda w, k: "/v1/users",
        lambda w: {
            "name": "new.officer",
            "password": "long-enough-pw",
            "role": "officer",
            "office_code": "grid-a2",
        },
        201,
    ),
    "list-users": Call("GET", lambda w, k: "/v1/users", None, 200),
    "revoke-tokens": Call(
        "POST", lambda w, k: f"/v1/users/{w.principals[Role.rider].id}/revoke-tokens", None, 200
    ),
    "create-api-key": Call(
        "POST",
        lambda w, k: "/v1/api-keys",
        lambda w: {"principal_id": w.principals[Role.viewer].id, "name": "dashboard"},
        201,
    ),
    "list-api-keys": Call("GET", lambda w, k: "/v1/api-keys", None, 200),
    "revoke-api-key": Call("DELETE", lambda w, k: f"/v1/api-keys/{k}", None, 200),
}

EXPECTED: dict[Role | None, int | None] = {
    None: 401,
    Role.rider: 403,
    Role.officer: 403,
    Role.supervisor: 403,
    Role.viewer: 403,
    Role.admin: None,  # the call's own success status
}


@pytest.fixture
def key_id(world, session_factory) -> int:
    from sqlalchemy import select

    from app.auth.models import ApiKey

    with session_factory() as s:
        make_api_key(s, world.principals[Role.officer])
        s.commit()
        return s.scalar(select(ApiKey.id))


@pytest.mark.parametrize("role", [None, *ROLES], ids=lambda r: r.value if r else "anonymous")
@pytest.mark.parametrize("name", list(ADMIN_CALLS))
def test_admin_endpoints(client, world, key_id, name, role):
    call = ADMIN_CALLS[name]
    r = client.request(
        call.method,
        call.path(world, key_id),
        json=call.body(world) if call.body else None,
        headers=world.headers(role),
    )
    expected = EXPECTED[role] or call.ok
    if expected >= 400:
        body = assert_problem(r, expected)
        if expected == 401:
            assert "www-authenticate" in r.headers
        else:
            assert role.value in body["detail"]
    else:
        assert r.status_code == expected, r.text


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_me_is_open_to_every_role(client, world, role):
    r = client.get("/v1/me", headers=world.headers(role))
    assert r.status_code == 200, r.text
    assert r.json()["role"] == role.value
