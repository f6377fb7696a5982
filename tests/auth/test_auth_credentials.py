"""Bearer tokens and API keys as the API sees them, on both databases."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from sqlalchemy import select

from app.auth.enums import Role
from app.auth.models import ApiKey, Principal
from app.auth.tokens import issue_token, signing_key
from app.core.db import utcnow
from tests.auth.helpers import assert_problem
from tests.support.factories import api_key_header, auth_header, make_api_key, token_for


def _rejected(response) -> dict:
    body = assert_problem(response, 401)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    return body


def test_missing_credentials_is_a_401_with_a_challenge(client, world):
    r = client.get("/v1/me")
    assert_problem(r, 401)
    assert r.headers["www-authenticate"] == 'Bearer realm="gridfix"'


def test_valid_token(client, world):
    r = client.get("/v1/me", headers=world.headers(Role.supervisor))
    assert r.status_code == 200, r.text
    assert r.json() | {"phone": None} == {
        "id": world.principals[Role.supervisor].id,
        "name": "sup.a",
        "display_name": None,
        "role": "supervisor",
        "office_id": world.offices["district-a"].id,
        "office_code": "district-a",
        "phone": None,
        "auth_method": "token",
    }


def test_expired_token(client, world, settings):
    token, _ = issue_token(
        settings, world.principals[Role.admin], 60, now=utcnow() - timedelta(hours=1)
    )
    r = client.get("/v1/me", headers=auth_header(token))
    assert "expired" in _rejected(r)["detail"]
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_tampered_token(client, world, settings):
    token = world.tokens[Role.officer]
    header, _payload, sig = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "role": "admin"}, "g" * 32, algorithm="HS256").split(".")[1]
    _rejected(client.get("/v1/me", headers=auth_header(f"{header}.{forged}.{sig}")))
    _rejected(client.get("/v1/users", headers=auth_header(f"{header}.{forged}.{sig}")))


def test_alg_none_token(client, world):
    claims = jwt.decode(world.tokens[Role.officer], options={"verify_signature": False})
    unsigned = jwt.encode({**claims, "role": "admin"}, None, algorithm="none")
    _rejected(client.get("/v1/users", headers=auth_header(unsigned)))


@pytest.mark.parametrize(("claim", "value"), [("aud", "other-api"), ("iss", "someone-else")])
def test_wrong_audience_or_issuer(client, world, settings, claim, value):
    claims = jwt.decode(world.tokens[Role.admin], options={"verify_signature": False})
    token = jwt.encode({**claims, claim: value}, signing_key(settings), algorithm="HS256")
    _rejected(client.get("/v1/me", headers=auth_header(token)))


def test_revoke_tokens_invalidates_earlier_tokens(client, world, settings, session_factory):
    officer = world.principals[Role.officer]
    before = world.tokens[Role.officer]
    assert client.get("/v1/me", headers=auth_header(before)).status_code == 200
    r = client.post(f"/v1/users/{officer.id}/revoke-tokens", headers=world.headers(Role.admin))
    assert r.status_code == 200, r.text
    r = client.get("/v1/me", headers=auth_header(before))
    assert "revoked" in _rejected(r)["detail"]
    with session_factory() as s:
        fresh = s.get(Principal, officer.id)
        assert fresh.token_version == 1
        assert (
            client.get("/v1/me", headers=auth_header(token_for(settings, fresh))).status_code == 200
        )


def test_deactivated_principal_token(client, world, session_factory):
    with session_factory() as s:
        s.get(Principal, world.principals[Role.viewer].id).active = False
        s.commit()
    _rejected(client.get("/v1/me", headers=world.headers(Role.viewer)))


def test_role_comes_from_the_database_not_the_token(client, world, session_factory):
    with session_factory() as s:
        s.get(Principal, world.principals[Role.admin].id).role = Role.viewer
        s.commit()
    r = client.get("/v1/users", headers=world.headers(Role.admin))
    assert_problem(r, 403)


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc", "Bearer not.a.jwt", ""],
)
def test_malformed_authorization(client, world, authorization):
    _rejected(client.get("/v1/me", headers={"Authorization": authorization}))


# ---------------------------------------------------------------- API keys
@pytest.fixture
def officer_key(world, session_factory) -> str:
    with session_factory() as s:
        key = make_api_key(s, world.principals[Role.officer], "partner")
        s.commit()
    return key


@pytest.mark.parametrize(
    "headers",
    [
        lambda k: {"X-API-Key": k},
        lambda k: {"Authorization": f"ApiKey {k}"},
        lambda k: {"Authorization": f"Bearer {k}"},
    ],
    ids=["x-api-key", "authorization-apikey", "authorization-bearer"],
)
def test_api_key_ok(client, world, officer_key, headers):
    r = client.get("/v1/me", headers=headers(officer_key))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == world.principals[Role.officer].id
    assert r.json()["auth_method"] == "api_key"


def test_api_key_use_is_recorded_at_most_once_a_minute(client, world, officer_key, session_factory):
    assert client.get("/v1/me", headers=api_key_header(officer_key)).status_code == 200
    with session_factory() as s:
        first = s.scalar(select(ApiKey.last_used_at))
    assert first is not None and utcnow() - first < timedelta(minutes=1)
    assert client.get("/v1/me", headers=api_key_header(officer_key)).status_code == 200
    with session_factory() as s:
        assert s.scalar(select(ApiKey.last_used_at)) == first


def test_revoked_api_key(client, world, officer_key, session_factory):
    with session_factory() as s:
        key_id = s.scalar(select(ApiKey.id))
    r = client.delete(f"/v1/api-keys/{key_id}", headers=world.headers(Role.admin))
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    r = client.get("/v1/me", headers=api_key_header(officer_key))
    assert "revoked" in _rejected(r)["detail"]


def test_api_key_of_deactivated_principal(client, world, officer_key, session_factory):
    with session_factory() as s:
        s.get(Principal, world.principals[Role.officer].id).active = False
        s.commit()
    _rejected(client.get("/v1/me", headers=api_key_header(officer_key)))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: "garbage",
        lambda k: "",
        lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),  # right prefix, wrong secret
        lambda k: "gfk_" + "z" * 12 + k[16:],  # unknown prefix, right-looking secret
        lambda k: k + "x" * 200,
    ],
    ids=["garbage", "empty", "wrong-secret", "unknown-prefix", "too-long"],
)
def test_bad_api_key(client, world, officer_key, mangle):
    _rejected(client.get("/v1/me", headers=api_key_header(mangle(officer_key))))


def test_api_key_and_authorization_together_are_refused(client, world, officer_key):
    headers = api_key_header(officer_key) | world.headers(Role.officer)
    _rejected(client.get("/v1/me", headers=headers))
