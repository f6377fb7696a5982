"""Every figure of every endpoint equals the brute force over the tickets and events,
with and without each filter, on SQLite and PostGIS."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.db import utcnow
from app.stats import buckets
from tests.stats import oracle
from tests.stats.conftest import DAY_WINDOW, HOUR_WINDOW

FIGURES = (
    "total",
    "by_status",
    "by_resolution",
    "resolution_rate",
    "on_time_rate",
    "rework_rate",
    "time_to_first_response_s",
    "time_to_resolution_s",
    "overdue",
    "backlog",
)


def _figs(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in FIGURES}


def _cohorts() -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {},
        {"from": oracle.local_midnight(9, now)},
        {"to": oracle.local_midnight(2, now)},
        {"from": oracle.local_midnight(11, now), "to": oracle.local_midnight(1, now)},
        {"from": oracle.month_start(1, now), "to": oracle.local_midnight(6, now)},
        {"from": oracle.local_midnight(1, now), "to": oracle.local_midnight(0, now)},
        {"from": oracle.month_start(1, now), "to": oracle.local_midnight(3, now)},
        {"from": oracle.month_start(2, now), "to": oracle.month_start(1, now)},
        {"to": oracle.month_start(1, now)},
    ]


def _params(case: dict[str, Any]) -> dict[str, str]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in case.items()}


def _expect(world: oracle.World, as_of, office=None, exact=None, category=None, case=None):
    case = case or {}
    tickets = world.cohort(
        office=office, exact=exact, category=category, start=case.get("from"), end=case.get("to")
    )
    return oracle.figures(tickets, as_of, HOUR_WINDOW, DAY_WINDOW)


@pytest.mark.slow
def test_every_figure_of_every_endpoint_equals_brute_force(populated, session_factory):
    city = populated
    with session_factory() as s:
        world = oracle.World.load(s)
    assert len({t.status for t in world.tickets}) >= 5, "the scenario should reach most statuses"
    assert any(t.reopen_count for t in world.tickets)
    admin = city.h["admin"]
    checked = 0

    for case in _cohorts():
        for office in (None, "city", "d1", "ga", "gc"):
            for category in (None, "road_damage", "manhole_cover"):
                params = _params(case) | ({"office": office} if office else {})
                params |= {"category": category} if category else {}
                r = city.client.get("/v1/stats/summary", params=params, headers=admin)
                assert r.status_code == 200, r.text
                body = r.json()
                as_of = oracle.parse(body["as_of"])
                expected = _expect(world, as_of, office, None, category, case)
                assert _figs(body) == expected, (params, _figs(body), expected)
                checked += 1

        # per office: the top level for an admin, then each district's children, by level
        for parent, level in ((None, None), ("city", None), ("d1", None), ("city", "grid")):
            params = _params(case) | ({"parent": parent} if parent else {})
            params |= {"level": level} if level else {}
            r = city.client.get("/v1/stats/offices", params=params, headers=admin)
            assert r.status_code == 200, r.text
            body = r.json()
            as_of = oracle.parse(body["as_of"])
            codes = [i["office"]["code"] for i in body["items"]]
            want = {
                (None, None): ["city"],
                ("city", None): ["d1", "d2"],
                ("d1", None): ["ga", "gb"],
                ("city", "grid"): ["ga", "gb", "gc", "gd"],
            }[(parent, level)]
            assert codes == want
            for item in body["items"]:
                expected = _expect(world, as_of, item["office"]["code"], case=case)
                assert _figs(item) == expected, (params, item["office"], expected)
                checked += 1

        r = city.client.get("/v1/stats/categories", params=_params(case), headers=admin)
        assert r.status_code == 200, r.text
        body = r.json()
        as_of = oracle.parse(body["as_of"])
        assert {i["category"] for i in body["items"]} == set(world.categories.values())
        for item in body["items"]:
            expected = _expect(world, as_of, category=item["category"], case=case)
            assert _figs(item) == expected, (case, item["category"])
            checked += 1
    assert checked > 200


@pytest.mark.slow
def test_officer_of_a_district_sees_its_own_tickets_only(populated, session_factory):
    city = populated
    with session_factory() as s:
        world = oracle.World.load(s)
    for who, own in (("off_d1", "d1"), ("off_a", "ga"), ("off_c", "gc")):
        for category in (None, "road_damage"):
            params = {"category": category} if category else {}
            body = city.client.get("/v1/stats/summary", params=params, headers=city.h[who]).json()
            assert body["scope"]["subtree"] is False
            expected = _expect(world, oracle.parse(body["as_of"]), exact=own, category=category)
            assert _figs(body) == expected, (who, category)
            series = city.client.get(
                "/v1/stats/timeseries", params=params, headers=city.h[who]
            ).json()
            starts = [oracle.parse(b["start"]) for b in series["buckets"]]
            assert series["buckets"] == oracle.timeseries(
                world,
                "day",
                [s.astimezone(oracle.TZ) for s in starts],
                exact=own,
                category=category,
            )
            hot = city.client.get("/v1/stats/hotspots", params=params, headers=city.h[who]).json()
            assert _cells(hot, 1000) == oracle.hotspots(world, 1000, exact=own, category=category)


@pytest.mark.slow
@pytest.mark.parametrize("interval", ["day", "week", "month"])
def test_timeseries_equals_brute_force(populated, session_factory, interval):
    city = populated
    with session_factory() as s:
        world = oracle.World.load(s)
    now = utcnow()
    spans = [{}]
    if interval == "month":
        spans.append({"from": oracle.month_start(3, now).isoformat()})
    else:
        spans.append({"from": oracle.local_midnight(30, now).isoformat(), "to": now.isoformat()})
    for span in spans:
        for office in (None, "d1", "gb"):
            for category in (None, "road_damage"):
                params = {"interval": interval, **span}
                params |= {"office": office} if office else {}
                params |= {"category": category} if category else {}
                r = city.client.get("/v1/stats/timeseries", params=params, headers=city.h["admin"])
                assert r.status_code == 200, r.text
                body = r.json()
                assert body["interval"] == interval and body["timezone"] == "Asia/Shanghai"
                starts = [oracle.datetime.fromisoformat(b["start"]) for b in body["buckets"]]
                assert starts == sorted(starts) and len(set(starts)) == len(starts)
                expected = oracle.timeseries(
                    world, interval, starts, office=office, category=category
                )
                assert body["buckets"] == expected, params
    # The whole history, month by month, counts every event exactly once.
    body = city.client.get(
        "/v1/stats/timeseries",
        params={"interval": "month", "from": oracle.month_start(3, now).isoformat()},
        headers=city.h["admin"],
    ).json()
    created = sum(b["created"] for b in body["buckets"])
    assert created == len(world.tickets)


def _cells(collection: dict[str, Any], cell_m: int) -> dict[tuple[int, int], dict[str, int]]:
    out = {}
    for feat in collection["features"]:
        ring = feat["geometry"]["coordinates"][0]
        assert feat["geometry"]["type"] == "Polygon" and ring[0] == ring[-1] and len(ring) == 5
        lon = (ring[0][0] + ring[2][0]) / 2
        lat = (ring[0][1] + ring[2][1]) / 2
        key = oracle.mercator_cell(lon, lat, cell_m)
        assert feat["geometry"]["coordinates"] == buckets.cell_polygon(*key, cell_m)
        assert feat["properties"]["count"] == sum(feat["properties"]["by_category"].values())
        out[key] = feat["properties"]["by_category"]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("cell_m", [250, 500, 1000, 3000, 4000])
def test_hotspots_equal_brute_force(populated, session_factory, cell_m):
    city = populated
    with session_factory() as s:
        world = oracle.World.load(s)
    for office in (None, "d1", "gc"):
        for category in (None, "road_damage"):
            params = {"cell_m": cell_m}
            params |= {"office": office} if office else {}
            params |= {"category": category} if category else {}
            r = city.client.get("/v1/stats/hotspots", params=params, headers=city.h["admin"])
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["type"] == "FeatureCollection" and body["cell_m"] == cell_m
            assert _cells(body, cell_m) == oracle.hotspots(
                world, cell_m, office=office, category=category
            )


@pytest.mark.slow
def test_ages_when_the_hour_window_outlasts_the_day_window(make_city, session_factory):
    from tests.stats.scenario import populate

    city = make_city(stats_hour_window_h=72, stats_day_window_days=2)
    populate(session_factory, city.settings, seed=99, tickets=30, days=8)
    with session_factory() as s:
        world = oracle.World.load(s)
    for office in (None, "d1"):
        params = {"office": office} if office else {}
        body = city.client.get("/v1/stats/summary", params=params, headers=city.h["admin"]).json()
        tickets = world.cohort(office=office)
        expected = oracle.figures(tickets, oracle.parse(body["as_of"]), 72, 2)
        assert _figs(body) == expected
