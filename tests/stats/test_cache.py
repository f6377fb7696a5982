"""The answer cache of /v1/stats: a new ETag for the same question is answered
from it without computing, a ticket change (a new data version) computes
afresh, and a cached answer is byte for byte the computed one."""

from __future__ import annotations

import pytest

from app.core.db import utcnow
from app.stats import answers, service
from app.stats import router as stats_router
from tests.stats.scenario import populate


def _count_computes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = service.compute

    def counted(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(service, "compute", counted)
    return calls


@pytest.fixture
def frozen(stats_city, session_factory, monkeypatch):
    populate(session_factory, stats_city.settings, seed=5, tickets=6, days=4)
    now = utcnow()
    monkeypatch.setattr(stats_router, "utcnow", lambda: now)  # no minute turns mid-test
    return stats_city


@pytest.mark.parametrize("path", ["/v1/stats/summary", "/v1/stats/offices"])
def test_a_new_etag_for_the_same_question_is_a_cache_hit(frozen, path, monkeypatch):
    city = frozen
    h = city.h["sup_d1"]
    first = city.client.get(path, params={"_": 1}, headers=h)
    assert first.status_code == 200, first.text
    calls = _count_computes(monkeypatch)
    # Another client's cache-buster: another ETag, the same answer, nothing computed.
    second = city.client.get(path, params={"_": 2}, headers=h)
    assert second.status_code == 200
    assert second.headers["etag"] != first.headers["etag"]
    assert second.content == first.content
    assert second.headers["content-type"] == "application/json"
    assert calls == []
    # Other filters are another question.
    other = city.client.get(path, params={"category": "road_damage"}, headers=h)
    assert other.status_code == 200 and calls == [1]


def test_a_ticket_change_computes_afresh(frozen, monkeypatch):
    city = frozen
    h = city.h["sup_d1"]
    before = city.client.get("/v1/stats/summary", headers=h).json()
    calls = _count_computes(monkeypatch)
    assert city.client.get("/v1/stats/summary", headers=h).json() == before
    assert calls == []
    city.report(who="r1")  # a new ticket in d1: its data version moves
    after = city.client.get("/v1/stats/summary", headers=h).json()
    assert calls == [1]
    assert after["total"] == before["total"] + 1
    assert after["by_status"]["new"] == before["by_status"]["new"] + 1


def test_scopes_do_not_share_answers(frozen):
    city = frozen
    sup = city.client.get("/v1/stats/summary", headers=city.h["sup_d1"])
    officer = city.client.get("/v1/stats/summary", headers=city.h["off_d1"])
    # The officer of d1 sees d1's own tickets only; the supervisor its subtree.
    assert officer.json()["scope"]["subtree"] is False
    assert sup.json()["scope"]["subtree"] is True
    assert len(city.client.app.state.stats_cache) == 2


@pytest.mark.parametrize(
    "path",
    [
        "/v1/stats/summary",
        "/v1/stats/offices?sort=backlog.open&order=desc",
        "/v1/stats/categories",
        "/v1/stats/timeseries?interval=week",
        "/v1/stats/hotspots?cell_m=2000",
    ],
)
def test_a_cached_answer_is_the_computed_one(frozen, path):
    city = frozen
    h = city.h["viewer"]
    computed = city.client.get(path, headers=h)
    cached = city.client.get(path, headers=h)
    city.client.app.state.stats_cache.clear()
    again = city.client.get(path, headers=h)
    assert computed.status_code == cached.status_code == again.status_code == 200
    assert computed.content == cached.content == again.content


def test_cache_off(stats_city, make_settings):
    assert answers.build_stats_cache(stats_city.settings).max_items == 512
    off = answers.build_stats_cache(
        make_settings(database_url=stats_city.settings.database_url, stats_cache_items=0)
    )
    off.put(("k",), b"{}")
    assert off.get(("k",)) is None
