"""Who may do what to which ticket: every role × endpoint × ownership, table-driven.

Ownership: ``own`` is a ticket of grid A (officers off_a; supervisor sup_d1 above it;
reported by r1); ``other`` is a ticket of grid C (outside off_a's and sup_d1's scope,
reported by r2).
Out-of-scope tickets answer 404, wrong roles 403, anonymous 401.
"""

from __future__ import annotations

import pytest

from tests.tickets.conftest import C_SPOT

WHO = ["anon", "r1", "r2", "viewer", "off_a", "off_b", "sup_d1", "sup_city", "admin"]

# endpoint → {who: (status on own ticket, status on other ticket)}
EXPECT: dict[str, dict[str, tuple[int, int]]] = {
    "GET detail": {
        "anon": (401, 401),
        "r1": (200, 404),
        "r2": (404, 200),
        "viewer": (404, 404),
        "off_a": (200, 404),
        "off_b": (404, 404),
        "sup_d1": (200, 404),
        "sup_city": (200, 200),
        "admin": (200, 200),
    },
    "GET events": {
        "anon": (401, 401),
        "r1": (200, 404),
        "r2": (404, 200),
        "viewer": (404, 404),
        "off_a": (200, 404),
        "off_b": (404, 404),
        "sup_d1": (200, 404),
        "sup_city": (200, 200),
        "admin": (200, 200),
    },
    "POST accept": {
        "anon": (401, 401),
        "r1": (403, 404),
        "r2": (404, 403),
        "viewer": (404, 404),
        "off_a": (200, 404),
        "off_b": (404, 404),
        "sup_d1": (200, 404),
        "sup_city": (200, 200),
        "admin": (200, 200),
    },
    "POST comment": {
        "anon": (401, 401),
        "r1": (403, 404),
        "r2": (404, 403),
        "viewer": (404, 404),
        "off_a": (200, 404),
        "off_b": (404, 404),
        "sup_d1": (200, 404),
        "sup_city": (200, 200),
        "admin": (200, 200),
    },
    "PATCH priority": {
        "anon": (401, 401),
        "r1": (403, 404),
        "r2": (404, 403),
        "viewer": (404, 404),
        "off_a": (200, 404),
        "off_b": (404, 404),
        "sup_d1": (200, 404),
        "sup_city": (200, 200),
        "admin": (200, 200),
    },
}
# Lists: no ticket id, so scope shows as which tickets come back, not as 404.
LISTS = {
    "anon": 401,
    "r1": 403,
    "r2": 403,
    "viewer": 403,
    "off_a": 200,
    "off_b": 200,
    "sup_d1": 200,
    "sup_city": 200,
    "admin": 200,
}


def _call(city, endpoint: str, tid: int, who: str):
    h = dict(city.h[who])
    if endpoint == "GET detail":
        return city.client.get(f"/v1/tickets/{tid}", headers=h)
    if endpoint == "GET events":
        return city.client.get(f"/v1/tickets/{tid}/events", headers=h)
    tag = city.etag(tid, "admin")
    h["If-Match"] = tag
    if endpoint == "POST accept":
        return city.client.post(f"/v1/tickets/{tid}/accept", headers=h)
    if endpoint == "POST comment":
        return city.client.post(f"/v1/tickets/{tid}/comment", json={"note": "hi"}, headers=h)
    return city.client.patch(f"/v1/tickets/{tid}", json={"priority": 1}, headers=h)


@pytest.mark.parametrize("endpoint", list(EXPECT))
def test_matrix(city, endpoint):
    for who in WHO:
        own = city.report(seed=hash((endpoint, who, 1)) % 10_000)
        other = city.report(C_SPOT, who="r2", seed=hash((endpoint, who, 2)) % 10_000)
        want_own, want_other = EXPECT[endpoint][who]
        got_own = _call(city, endpoint, own, who)
        got_other = _call(city, endpoint, other, who)
        assert (got_own.status_code, got_other.status_code) == (want_own, want_other), (
            endpoint,
            who,
            got_own.text[:200],
            got_other.text[:200],
        )
        for r in (got_own, got_other):
            if r.status_code >= 400:
                assert r.headers["content-type"] == "application/problem+json"


def test_lists(city):
    city.report(seed=1)
    city.report(C_SPOT, seed=2)
    for who, status in LISTS.items():
        for path in ("/v1/tickets", "/v1/tickets/claims"):
            r = city.client.get(path, headers=city.h[who])
            assert r.status_code == status, (who, path, r.text)
    seen = {
        w: len(city.client.get("/v1/tickets", headers=city.h[w]).json()["items"])
        for w in ("off_a", "off_b", "sup_d1", "sup_city", "admin")
    }
    assert seen == {"off_a": 1, "off_b": 0, "sup_d1": 1, "sup_city": 2, "admin": 2}
