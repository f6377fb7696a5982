"""The in-process principal cache: hits skip the lookup, failures are never
kept, in-process revocation applies at once, and a change made elsewhere
applies within the TTL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.auth import repository, service
from app.auth.enums import Role
from app.auth.models import ApiKey, Principal
from app.auth.service import PrincipalCache
from tests.support.factories import api_key_header, auth_header, make_api_key, token_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(client) -> FakeClock:
    """The app's principal cache, on a clock the test moves."""
    fake = FakeClock()
    client.app.state.principal_cache = PrincipalCache(5.0, clock=fake)
    return fake


def _no_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a, **_k):
        raise AssertionError("the principal was looked up")

    monkeypatch.setattr(repository, "get_principal_for_auth", boom)
    monkeypatch.setattr(repository, "get_api_key_for_auth", boom)


def test_a_second_request_with_the_same_token_skips_the_lookup(client, world, clock, monkeypatch):
    h = world.headers(Role.viewer)
    assert client.get("/v1/me", headers=h).status_code == 200
    assert len(client.app.state.principal_cache) == 1
    with monkeypatch.context() as m:
        _no_lookup(m)
        r = client.get("/v1/stats/summary", headers=h)
    assert r.status_code == 200, r.text
    clock.now += 5.1  # past the TTL: looked up again
    with monkeypatch.context() as m:
        _no_lookup(m)
        with pytest.raises(AssertionError, match="looked up"):
            client.get("/v1/stats/summary", headers=h)


def test_refused_credentials_are_not_kept(client, world, clock):
    assert client.get("/v1/me", headers=auth_header("not.a.jwt")).status_code == 401
    assert client.get("/v1/me", headers=api_key_header("gfk_" + "a" * 40)).status_code == 401
    assert len(client.app.state.principal_cache) == 0


def test_deactivation_elsewhere_applies_within_the_ttl(client, world, clock, session_factory):
    h = world.headers(Role.viewer)
    assert client.get("/v1/me", headers=h).status_code == 200
    with session_factory() as s:  # another process: this one's cache is not told
        s.get(Principal, world.principals[Role.viewer].id).active = False
        s.commit()
    clock.now += 4.9
    assert client.get("/v1/me", headers=h).status_code == 200  # the stated bound
    clock.now += 0.2
    r = client.get("/v1/me", headers=h)
    assert r.status_code == 401 and "deactivated" in r.json()["detail"]


def test_revoking_tokens_here_applies_at_once(client, world, clock):
    officer = world.principals[Role.officer]
    h = world.headers(Role.officer)
    assert client.get("/v1/me", headers=h).status_code == 200
    r = client.post(f"/v1/users/{officer.id}/revoke-tokens", headers=world.headers(Role.admin))
    assert r.status_code == 200, r.text
    r = client.get("/v1/me", headers=h)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_revoking_an_api_key_here_applies_at_once(client, world, clock, session_factory):
    with session_factory() as s:
        key = make_api_key(s, world.principals[Role.officer], "partner")
        s.commit()
        key_id = s.scalar(select(ApiKey.id))
    assert client.get("/v1/me", headers=api_key_header(key)).status_code == 200
    assert len(client.app.state.principal_cache) == 1
    r = client.delete(f"/v1/api-keys/{key_id}", headers=world.headers(Role.admin))
    assert r.status_code == 200, r.text
    r = client.get("/v1/me", headers=api_key_header(key))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_an_entry_never_outlives_its_token(world, settings, session_factory, monkeypatch):
    fake = FakeClock()
    cache = PrincipalCache(30.0, clock=fake)
    long_lived = token_for(settings, world.principals[Role.viewer], ttl_s=3600)
    short = token_for(settings, world.principals[Role.admin], ttl_s=60)
    with session_factory() as s:
        service.actor_from_token(s, settings, long_lived, cache=cache)
        real = service.time.time()
        with monkeypatch.context() as m:  # as if 58 of the token's 60 s had passed
            m.setattr(service.time, "time", lambda: real + 58)
            service.actor_from_token(s, settings, short, cache=cache)
    fake.now += 2.5
    assert cache.get(cache.key("token", long_lived)) is not None  # 30 s TTL binds
    assert cache.get(cache.key("token", short)) is None  # the token's end binds


def test_ttl_zero_turns_the_cache_off(make_settings, db_url):
    from app.auth.dependencies import build_principal_cache

    assert build_principal_cache(make_settings(database_url=db_url, auth_cache_ttl_s=0)) is None
    on = build_principal_cache(make_settings(database_url=db_url))
    assert on is not None and on.ttl_s == 5.0
