"""The in-process principal cache: hits skip the lookup, failures are never
kept, in-process revocation applies at once, and a change made elsewhere (in
SQL too: triggers move the authentication epoch) applies within the TTL, however
long the caller has been held."""

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


def _count_epoch_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    reads: list[int] = []
    real = repository.read_epoch

    def counted(conn):
        reads.append(1)
        return real(conn)

    monkeypatch.setattr(repository, "read_epoch", counted)
    return reads


def test_a_second_request_with_the_same_token_skips_the_lookup(client, world, clock, monkeypatch):
    """Within the TTL a held caller costs nothing; past it, one read of the epoch
    vouches for every caller held; past the hold time the caller is looked up."""
    h = world.headers(Role.viewer)
    assert client.get("/v1/me", headers=h).status_code == 200
    assert len(client.app.state.principal_cache) == 1
    reads = _count_epoch_reads(monkeypatch)
    with monkeypatch.context() as m:
        _no_lookup(m)
        r = client.get("/v1/stats/summary", headers=h)
        assert r.status_code == 200, r.text
        assert reads == []
        clock.now += 5.1  # past the TTL: the epoch is read again, not the principal
        assert client.get("/v1/stats/summary", headers=h).status_code == 200
        assert client.get("/v1/me", headers=h).status_code == 200
        assert reads == [1]
    clock.now += 600.0  # past the hold time: looked up again
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


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE principals SET token_version = token_version + 1 WHERE id = :p",
        "UPDATE principals SET role = 'rider' WHERE id = :p",
        "UPDATE offices SET code = 'moved' WHERE id = (SELECT office_id FROM principals WHERE id = :p)",
    ],
)
def test_a_change_made_in_sql_applies_within_the_ttl(
    client, world, clock, session_factory, monkeypatch, change
):
    """However long a caller has been held, a change made in SQL (triggers move the
    epoch) makes it be looked up again once the TTL has passed since the epoch
    was last read."""
    from sqlalchemy import text

    officer = world.principals[Role.officer]
    h = world.headers(Role.officer)
    me = client.get("/v1/me", headers=h)
    assert me.status_code == 200
    clock.now += 300.0  # held for minutes: the epoch is read again, not the principal
    with monkeypatch.context() as m:
        _no_lookup(m)
        assert client.get("/v1/me", headers=h).json() == me.json()
    with session_factory() as s:
        s.execute(text(change), {"p": officer.id})
        s.commit()
    clock.now += 4.9
    with monkeypatch.context() as m:
        _no_lookup(m)
        assert client.get("/v1/me", headers=h).status_code == 200  # the stated bound
    clock.now += 0.2
    with monkeypatch.context() as m:
        _no_lookup(m)
        with pytest.raises(AssertionError, match="looked up"):
            client.get("/v1/me", headers=h)


def test_revoking_an_api_key_elsewhere_applies_within_the_ttl(
    client, world, clock, session_factory
):
    from datetime import UTC, datetime

    with session_factory() as s:
        key = make_api_key(s, world.principals[Role.officer], "partner")
        s.commit()
    assert client.get("/v1/me", headers=api_key_header(key)).status_code == 200
    clock.now += 60.0
    assert client.get("/v1/me", headers=api_key_header(key)).status_code == 200
    with session_factory() as s:
        s.scalars(select(ApiKey)).one().revoked_at = datetime.now(UTC)
        s.commit()
    clock.now += 5.1
    r = client.get("/v1/me", headers=api_key_header(key))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


@pytest.mark.parametrize(
    ("change", "moves"),
    [
        ("UPDATE principals SET active = active WHERE id = :p", True),
        ("UPDATE principals SET display_name = 'x' WHERE id = :p", True),
        ("UPDATE principals SET office_id = office_id WHERE id = :p", True),
        ("DELETE FROM api_keys WHERE principal_id = :p", True),
        ("UPDATE offices SET path = path", True),
        ("UPDATE principals SET password_hash = 'h', phone = '1' WHERE id = :p", False),
        ("UPDATE api_keys SET last_used_at = created_at", False),
        ("UPDATE offices SET name = name", False),
    ],
)
def test_what_moves_the_epoch(world, session_factory, change, moves):
    """Changes to who may call move the epoch; a password rehash, a key's last-use
    stamp or an office's name do not (they would empty every worker's cache)."""
    from sqlalchemy import text

    with session_factory() as s:
        make_api_key(s, world.principals[Role.officer], "partner")
        s.commit()
    with session_factory() as s:
        before = repository.read_epoch(s)
        s.execute(text(change), {"p": world.principals[Role.officer].id})
        s.commit()
        after = repository.read_epoch(s)
    assert before is not None and after is not None
    assert (after > before) is moves


def test_an_entry_read_at_an_older_epoch_is_never_served():
    """A lookup that read the principal before a change, and finishes after this
    process saw the change's epoch, is not kept; nor is anything served while the
    epoch is unknown (its row missing)."""
    from app.auth.actor import Actor

    fake = FakeClock()
    cache = PrincipalCache(5.0, clock=fake)
    actor = Actor(
        id=1, name="a", role=Role.viewer, office_id=None, office_code=None, office_path=None
    )
    k = cache.key("token", "t")
    cache.put(k, actor, 3)  # no epoch seen yet: not kept
    assert cache.get(k) is None
    cache.saw_epoch(3, fake.now)
    cache.put(k, actor, 3)
    assert cache.get(k) == actor
    cache.saw_epoch(4, fake.now)  # a change elsewhere
    assert cache.get(k) is None and not cache.holds(k)
    cache.put(k, actor, 3)  # a slow lookup of the old row: refused
    cache.saw_epoch(3, fake.now)  # an older snapshot: does not go back
    assert cache.get(k) is None
    cache.put(k, actor, 4)
    assert cache.get(k) == actor
    fake.now += 5.0
    assert cache.get(k) is None and cache.holds(k) and cache.due()
    cache.saw_epoch(4, fake.now)
    assert cache.get(k) == actor
    cache.saw_epoch(None, fake.now)  # the epoch's row is gone: nothing is vouched for
    assert cache.get(k) is None


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
    assert cache.get(cache.key("token", long_lived)) is not None
    assert cache.get(cache.key("token", short)) is None  # the token's end binds


def test_ttl_zero_turns_the_cache_off(make_settings, db_url):
    from app.auth.dependencies import build_principal_cache

    assert build_principal_cache(make_settings(database_url=db_url, auth_cache_ttl_s=0)) is None
    on = build_principal_cache(make_settings(database_url=db_url))
    assert on is not None and on.ttl_s == 5.0
