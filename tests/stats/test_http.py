"""ETag and 304, roles and scopes, and filter validation of /v1/stats/*."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.core.db import utcnow
from app.stats import router as stats_router
from app.stats import service
from tests.stats import oracle
from tests.stats.scenario import populate

ENDPOINTS = [
    "/v1/stats/summary",
    "/v1/stats/offices",
    "/v1/stats/categories",
    "/v1/stats/timeseries",
    "/v1/stats/hotspots",
]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_etag_304_then_new_etag_after_a_ticket_change(
    stats_city, session_factory, path, monkeypatch
):
    city = stats_city
    populate(session_factory, city.settings, seed=11, tickets=4, days=3)
    now = utcnow()
    monkeypatch.setattr(stats_router, "utcnow", lambda: now)  # no minute turns mid-test
    h = city.h["sup_d1"]
    r = city.client.get(path, headers=h)
    assert r.status_code == 200, r.text
    tag = r.headers["etag"]
    assert tag.startswith('W/"')
    assert r.headers["cache-control"] == "private, max-age=5"

    # Unchanged: 304, without computing anything.
    def boom(*a, **k):
        raise AssertionError("recomputed on a 304")

    with monkeypatch.context() as m:
        for name in ("compute", "timeseries", "hotspots", "base_target", "scope_json"):
            m.setattr(service, name, boom)
        again = city.client.get(path, headers={**h, "If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == tag
    assert city.client.get(path, headers={**h, "If-None-Match": f'"x", {tag}'}).status_code == 304
    assert city.client.get(path, headers={**h, "If-None-Match": '"other"'}).status_code == 200

    # Another query is another representation.
    other = city.client.get(path, params={"category": "road_damage"}, headers=h)
    assert other.headers["etag"] != tag

    # A ticket change in the caller's scope: new ETag, 200.
    tid = city.report(who="r1")  # ga, inside d1
    changed = city.client.get(path, headers={**h, "If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert city.act(tid, "accept", "off_a").status_code == 200
    assert (
        city.client.get(path, headers={**h, "If-None-Match": changed.headers["etag"]}).status_code
        == 200
    )


def test_a_change_outside_the_scope_keeps_the_etag(stats_city, monkeypatch):
    from tests.tickets.conftest import C_SPOT

    city = stats_city
    now = utcnow()
    monkeypatch.setattr(stats_router, "utcnow", lambda: now)
    h = city.h["sup_d1"]
    tag = city.client.get("/v1/stats/summary", headers=h).headers["etag"]
    city.report(spot=C_SPOT, who="r1")  # gc, in d2: not d1's business
    assert (
        city.client.get("/v1/stats/summary", headers={**h, "If-None-Match": tag}).status_code == 304
    )
    viewer_tag = city.client.get("/v1/stats/summary", headers=city.h["viewer"]).headers["etag"]
    city.report(spot=C_SPOT, who="r1")
    r = city.client.get(
        "/v1/stats/summary", headers={**city.h["viewer"], "If-None-Match": viewer_tag}
    )
    assert r.status_code == 200  # the city's viewer sees d2


def test_the_etag_turns_with_the_minute(stats_city, monkeypatch):
    city = stats_city
    t0 = datetime(2026, 11, 29, 10, 0, 5, tzinfo=UTC)
    monkeypatch.setattr(stats_router, "utcnow", lambda: t0)
    r = city.client.get("/v1/stats/summary", headers=city.h["viewer"])
    assert r.json()["as_of"] == "2026-11-29T10:00:00+00:00"
    monkeypatch.setattr(stats_router, "utcnow", lambda: t0 + timedelta(seconds=50))
    again = {**city.h["viewer"], "If-None-Match": r.headers["etag"]}
    assert city.client.get("/v1/stats/summary", headers=again).status_code == 304
    monkeypatch.setattr(stats_router, "utcnow", lambda: t0 + timedelta(seconds=60))
    assert city.client.get("/v1/stats/summary", headers=again).status_code == 200


@pytest.mark.parametrize("path", ENDPOINTS)
def test_roles(stats_city, path):
    city = stats_city
    assert city.client.get(path, headers=city.h["anon"]).status_code == 401
    assert city.client.get(path, headers=city.h["r1"]).status_code == 403
    for who in ("viewer", "off_a", "sup_d1", "sup_city", "admin"):
        assert city.client.get(path, headers=city.h[who]).status_code == 200, who


@pytest.mark.parametrize(
    ("who", "office", "status"),
    [
        ("sup_d1", "gc", 422),  # another district
        ("sup_d1", "city", 422),  # above their office
        ("sup_d1", "ga", 200),
        ("off_a", "gb", 422),  # a neighbouring grid
        ("off_a", "ga", 200),
        ("off_d1", "ga", 422),  # an officer sees their own office only
        ("viewer", "gd", 200),
        ("admin", "gd", 200),
        ("admin", "nope", 422),
    ],
)
def test_office_scope(stats_city, who, office, status):
    city = stats_city
    for path in ENDPOINTS:
        param = "parent" if path.endswith("offices") else "office"
        r = city.client.get(path, params={param: office}, headers=city.h[who])
        assert r.status_code == status, (path, r.text)
        if status == 422:
            assert r.json()["errors"][0]["field"] == param
            assert "in your scope" in r.json()["detail"]  # unknown and out of scope look alike


def test_default_office_lists_per_role(stats_city):
    city = stats_city

    def codes(who, **params):
        r = city.client.get("/v1/stats/offices", params=params, headers=city.h[who])
        return [i["office"]["code"] for i in r.json()["items"]]

    assert codes("admin") == ["city"]
    assert codes("viewer") == ["d1", "d2"]
    assert codes("sup_d1") == ["ga", "gb"]
    assert codes("off_a") == []
    assert codes("sup_city", level="grid") == ["ga", "gb", "gc", "gd"]
    assert codes("sup_d1", level="grid") == ["ga", "gb"]


def test_offices_sort(stats_city, session_factory):
    city = stats_city
    populate(session_factory, city.settings, seed=13, tickets=25, days=10)
    r = city.client.get(
        "/v1/stats/offices",
        params={"level": "grid", "sort": "total", "order": "desc"},
        headers=city.h["admin"],
    )
    totals = [i["total"] for i in r.json()["items"]]
    assert totals == sorted(totals, reverse=True)
    r = city.client.get(
        "/v1/stats/offices",
        params={"level": "grid", "sort": "backlog.median_age_s"},
        headers=city.h["admin"],
    )
    ages = [i["backlog"]["median_age_s"] for i in r.json()["items"]]
    present = [a for a in ages if a is not None]
    assert present == sorted(present) and ages[: len(present)] == present  # nulls last


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/stats/summary", {"category": "nope"}, "category"),
        ("/v1/stats/summary", {"from": "2026-11-01T00:00:00"}, "from"),
        ("/v1/stats/summary", {"from": "yesterday"}, "from"),
        ("/v1/stats/offices", {"sort": "colour"}, "sort"),
        ("/v1/stats/offices", {"order": "up"}, "order"),
        ("/v1/stats/timeseries", {"interval": "year"}, "interval"),
        ("/v1/stats/hotspots", {"cell_m": 300}, "cell_m"),
        ("/v1/stats/hotspots", {"cell_m": 100}, "cell_m"),
        ("/v1/stats/hotspots", {"from": "2026-11-01T00:00:00+08:00"}, "from"),
    ],
)
def test_invalid_filters_are_422_naming_the_field(stats_city, path, params, field):
    r = stats_city.client.get(path, params=params, headers=stats_city.h["admin"])
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in r.json()["errors"]}


def test_cohort_bounds_must_be_local_midnights_and_old_ones_months(stats_city):
    city = stats_city
    now = utcnow()
    h = city.h["admin"]

    def get(**params):
        p = {k: v.isoformat() for k, v in params.items()}
        return city.client.get("/v1/stats/summary", params=p, headers=h)

    assert get(**{"from": oracle.local_midnight(3, now)}).status_code == 200
    noon = oracle.local_midnight(3, now).replace(hour=12)
    r = get(**{"from": noon})
    assert r.status_code == 422 and "local midnight" in r.json()["detail"]
    # 60 days back is older than the 12-day window: only a month start will do
    old = oracle.local_midnight(60, now)
    if old.day != 1:
        r = get(to=old)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "to"
    assert get(**{"from": oracle.month_start(3, now)}).status_code == 200
    r = get(**{"from": oracle.local_midnight(2, now), "to": oracle.local_midnight(4, now)})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "to"
    # the same instant in UTC is fine: only the instant matters
    utc = oracle.local_midnight(2, now).astimezone(datetime.now().astimezone().tzinfo)
    assert get(**{"from": utc}).status_code == 200


def test_timeseries_windows_and_caps(stats_city):
    city = stats_city
    h = city.h["admin"]
    now = utcnow()
    far = oracle.local_midnight(200, now).isoformat()
    r = city.client.get("/v1/stats/timeseries", params={"from": far}, headers=h)
    assert r.status_code == 422 and "interval=month" in r.json()["detail"]
    r = city.client.get(
        "/v1/stats/timeseries", params={"interval": "month", "from": far}, headers=h
    )
    assert r.status_code == 200
    assert len(r.json()["buckets"]) in (7, 8)
    r = city.client.get("/v1/stats/timeseries", params={"interval": "week"}, headers=h)
    starts = [datetime.fromisoformat(b["start"]) for b in r.json()["buckets"]]
    assert len(starts) == 12 and all(s.weekday() == 0 and s.hour == 0 for s in starts)
    r = city.client.get("/v1/stats/timeseries", headers=h)
    days = r.json()["buckets"]
    assert len(days) == 30 and all(b["created"] == 0 for b in days)


def test_openapi_documents_the_endpoints(stats_city):
    doc = stats_city.client.get("/openapi.json").json()
    for path in ENDPOINTS:
        op = doc["paths"][path]["get"]
        assert {"200", "304", "401", "403", "422"} <= set(op["responses"])
        assert op["description"]
