"""POST /v1/auth/token: the password grant, as a form and as JSON, on both databases."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from app.auth.enums import Role
from app.auth.models import Principal
from tests.auth.helpers import assert_problem
from tests.support.factories import auth_header, make_office, make_principal

PASSWORD = "s3cret-passphrase"


@pytest.fixture
def officer(session_factory):
    with session_factory() as s:
        office = make_office(s, "g1", "Grid 1")
        p = make_principal(s, "li.wei", Role.officer, office, password=PASSWORD)
        make_principal(s, "rider-abc", Role.rider)
        make_principal(s, "gone", Role.officer, office, password=PASSWORD, active=False)
        s.commit()
    return p


def _form(username: str, password: str) -> dict[str, str]:
    return {"grant_type": "password", "username": username, "password": password}


def test_form_login_issues_a_working_token(client, officer, settings):
    r = client.post("/v1/auth/token", data=_form("li.wei", PASSWORD))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["role"] == "officer" and body["principal_id"] == officer.id
    assert body["expires_in"] == settings.access_token_ttl_s
    assert r.headers["cache-control"] == "no-store"
    me = client.get("/v1/me", headers=auth_header(body["access_token"]))
    assert me.status_code == 200 and me.json()["name"] == "li.wei"
    assert me.json()["office_code"] == "g1"


def test_json_login(client, officer):
    r = client.post("/v1/auth/token", json={"username": "li.wei", "password": PASSWORD})
    assert r.status_code == 200, r.text
    assert r.json()["principal_id"] == officer.id


def test_user_names_are_case_insensitive(client, officer):
    r = client.post("/v1/auth/token", json={"username": " Li.Wei ", "password": PASSWORD})
    assert r.status_code == 200, r.text


def test_wrong_password_and_unknown_user_answer_alike(client, officer):
    wrong = client.post("/v1/auth/token", data=_form("li.wei", "not-the-password"))
    unknown = client.post("/v1/auth/token", data=_form("nobody", "not-the-password"))
    rider = client.post("/v1/auth/token", data=_form("rider-abc", "not-the-password"))
    inactive = client.post("/v1/auth/token", data=_form("gone", PASSWORD))
    first = assert_problem(wrong, 401)
    assert first["error"] == "invalid_grant"
    for other in (unknown, rider, inactive):
        assert assert_problem(other, 401) == first
        assert other.headers["www-authenticate"] == wrong.headers["www-authenticate"]


def test_login_upgrades_an_outdated_hash(client, session_factory, officer):
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with session_factory() as s:
        s.get(Principal, officer.id).password_hash = weak
        s.commit()
    assert client.post("/v1/auth/token", data=_form("li.wei", PASSWORD)).status_code == 200
    with session_factory() as s:
        stored = s.scalar(select(Principal.password_hash).where(Principal.id == officer.id))
    assert stored != weak and "m=65536" in stored


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"username": "li.wei", "password": PASSWORD}, "grant_type"),
        ({"grant_type": "client_credentials", "username": "a", "password": "b"}, "grant_type"),
        ({"grant_type": "password", "password": "b"}, "username"),
        ({"grant_type": "password", "username": "a"}, "password"),
        ({"grant_type": "password", "username": "a", "password": "b", "foo": "1"}, "foo"),
        ({"grant_type": "password", "username": "a" * 101, "password": "b"}, "username"),
    ],
)
def test_form_validation_names_the_field(client, officer, data, field):
    assert_problem(client.post("/v1/auth/token", data=data), 422, field=field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "li.wei"}, "password"),
        ({"password": PASSWORD}, "username"),
        ({"username": "li.wei", "password": PASSWORD, "grant_type": "password"}, "grant_type"),
        ({"username": "li.wei", "password": "x" * 257}, "password"),
        ({"username": 5, "password": PASSWORD}, "username"),
    ],
)
def test_json_validation_names_the_field(client, officer, body, field):
    assert_problem(client.post("/v1/auth/token", json=body), 422, field=field)


def test_malformed_json_is_a_422(client, officer):
    r = client.post(
        "/v1/auth/token", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(r, 422)


def test_other_media_types_are_a_415(client, officer):
    r = client.post("/v1/auth/token", content=b"li.wei", headers={"Content-Type": "text/plain"})
    assert_problem(r, 415)
