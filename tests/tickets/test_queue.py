"""The work queue's plans (one office, a few offices merged, a wide scope, the
whole city) all return the same pages as a plain sort of the visible tickets,
on both databases; cursors are checked; items match the ticket detail."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from itertools import product
from typing import Any

import pytest
from shapely.geometry import box
from sqlalchemy import event, select, update

from app.auth.actor import Actor
from app.auth.enums import Role
from app.auth.models import Principal
from app.categories.models import Category
from app.core.db import utcnow
from app.grids.models import Office
from app.tickets import hooks, repository, service
from app.tickets.enums import Action, ActorKind
from app.tickets.models import Ticket
from tests.support.factories import make_office
from tests.tickets.conftest import A_SPOT, C_SPOT

B_SPOT = (22.51, 113.015)  # inside gb
OPEN = {"new", "accepted", "in_progress"}
EXTRA_OFFICES = 20  # empty grids under d2: 27 offices, so a 3-office scope is "few"

# name → (column, descending) keys, as the API sorts.
SORT_KEYS = {name: keys for name, keys in repository.SORTS.items()}


@pytest.fixture
def queue_city(city, session_factory):
    with session_factory() as s:
        d2 = s.scalar(select(Office).where(Office.code == "d2"))
        for i in range(EXTRA_OFFICES):
            x = 120 + i * 0.01
            make_office(s, f"x{i}", f"Extra {i}", d2, boundary=box(x, 30, x + 0.005, 30.005))
        s.commit()
    spots = [A_SPOT] * 5 + [B_SPOT] * 4 + [C_SPOT] * 3
    ids = [city.report(spot, seed=200 + i) for i, spot in enumerate(spots)]
    ids.append(city.report(A_SPOT, category="street_light_out", seed=230))
    ids.append(city.report(B_SPOT, category="street_light_out", seed=231))
    now = utcnow()
    # Ties everywhere a sort key can tie, so that only the id decides.
    shapes: list[dict[str, Any]] = [
        {"priority": 1, "due_at": now - timedelta(hours=5), "status": "new"},
        {"priority": 1, "due_at": now - timedelta(hours=5), "status": "accepted"},
        {"priority": 2, "due_at": now + timedelta(hours=5), "status": "in_progress"},
        {"priority": 3, "due_at": now - timedelta(hours=1), "status": "resolved"},
        {"priority": 2, "due_at": now - timedelta(hours=5), "status": "new"},
        {"priority": 1, "due_at": now + timedelta(hours=5), "status": "closed"},
        {"priority": 2, "due_at": now - timedelta(hours=1), "status": "new"},
        {"priority": 4, "due_at": now - timedelta(hours=5), "status": "accepted"},
        {"priority": 1, "due_at": now - timedelta(hours=1), "status": "new"},
        {"priority": 2, "due_at": now - timedelta(hours=5), "status": "rejected"},
        {"priority": 1, "due_at": now + timedelta(hours=5), "status": "new"},
        {"priority": 2, "due_at": now - timedelta(hours=5), "status": "in_progress"},
        {"priority": 2, "due_at": now - timedelta(hours=1), "status": "new"},
        {"priority": 1, "due_at": now - timedelta(hours=5), "status": "new"},
    ]
    created = [now - timedelta(hours=10), now - timedelta(hours=9)]
    with session_factory() as s:
        for i, (tid, shape) in enumerate(zip(ids, shapes, strict=True)):
            at = created[i % 2]
            values = shape | {"created_at": at, "updated_at": at + timedelta(minutes=i % 3)}
            s.execute(update(Ticket).where(Ticket.id == tid).values(**values))
        s.commit()
    return city


def _all_tickets(session_factory) -> list[dict[str, Any]]:
    with session_factory() as s:
        codes = {i: c for i, c in s.execute(select(Office.id, Office.code))}
        cats = {i: c for i, c in s.execute(select(Category.id, Category.code))}
        rows = s.execute(select(Ticket)).scalars().all()
        return [
            {
                "id": t.id,
                "office": codes[t.office_id],
                "status": t.status,
                "category": cats[t.category_id],
                "priority": t.priority,
                "due_at": t.due_at,
                "created_at": t.created_at,
                "updated_at": t.updated_at,
            }
            for t in rows
        ]


def _expected(tickets, offices, params, sort):
    now = utcnow()
    out = [t for t in tickets if t["office"] in offices]
    if "status" in params:
        out = [t for t in out if t["status"] in params["status"].split(",")]
    if "category" in params:
        out = [t for t in out if t["category"] == params["category"]]
    if params.get("overdue") == "true":
        out = [t for t in out if t["status"] in OPEN and t["due_at"] < now]
    for col, desc in reversed(SORT_KEYS[sort]):
        out.sort(key=lambda t, c=col: t[c], reverse=desc)
    return [t["id"] for t in out]


def _walk(city, who, params, sort, limit=3) -> list[int]:
    got: list[int] = []
    cursor = None
    for _ in range(50):
        q = {**params, "sort": sort, "limit": limit} | ({"cursor": cursor} if cursor else {})
        r = city.client.get("/v1/tickets", params=q, headers=city.h[who])
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= limit
        got += [t["id"] for t in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return got
    raise AssertionError("queue did not end")


D1 = {"d1", "ga", "gb"}
D2 = {"d2", "gc", "gd"} | {f"x{i}" for i in range(EXTRA_OFFICES)}
SCOPES = [
    ("off_a", {}, {"ga"}),  # one office
    ("sup_d1", {}, D1),  # a few offices out of many: merged per office on PostgreSQL
    ("sup_city", {}, {"city"} | D1 | D2),  # every office: no office condition
    ("admin", {"office": "d2"}, D2),  # many offices: one walk of the global order
    ("sup_city", {"office": "d1"}, D1),  # the office filter inside a wider scope
]
FILTERS = [
    {},
    {"status": "new,accepted,in_progress"},
    {"status": "new", "category": "road_damage"},
    {"overdue": "true"},
    {"status": "closed,rejected"},
]


def test_every_plan_pages_like_a_plain_sort(queue_city, session_factory):
    tickets = _all_tickets(session_factory)
    assert len(tickets) == 14
    for (who, scope_params, offices), filters, sort in product(SCOPES, FILTERS, SORT_KEYS):
        params = scope_params | filters
        want = _expected(tickets, offices, params, sort)
        assert _walk(queue_city, who, params, sort) == want, (who, params, sort)
    # The plans are not vacuous: the fixture gives each scope several tickets,
    # and a few offices out of many are merged office by office on PostgreSQL.
    assert len(_expected(tickets, D1, {"overdue": "true"}, "due")) >= 4
    state = queue_city.client.app.state
    engine = state.engine
    # PostgreSQL pages are read on the autocommit pool.
    engines = [e for e in (engine, state.read_engine) if e is not None]
    statements: list[str] = []

    def seen(conn, cursor, statement, *_: Any) -> None:
        statements.append(statement)

    for e in engines:
        event.listen(e, "before_cursor_execute", seen)
    try:
        _walk(queue_city, "sup_d1", {"overdue": "true"}, "due")
    finally:
        for e in engines:
            event.remove(e, "before_cursor_execute", seen)
    merged = any("unnest" in st and "LATERAL" in st for st in statements)
    assert merged == (engine.dialect.name == "postgresql")


def test_queue_offices_picks_the_scope(queue_city, session_factory):
    from app.auth.scope import OfficeScope

    with session_factory() as s:
        codes = {c: i for c, i in s.execute(select(Office.code, Office.id))}
        d1_path = s.scalar(select(Office.path).where(Office.code == "d1"))
        city_path = s.scalar(select(Office.path).where(Office.code == "city"))
        total = len(codes)

        def offices(**kw: Any) -> tuple[tuple[int, ...] | None, int]:
            return repository.queue_offices(s, repository.QueueFilter(**kw))

        assert offices(scope=OfficeScope(office_id=codes["ga"])) == ((codes["ga"],), 0)
        assert offices(scope=OfficeScope(path_prefix=d1_path)) == (
            tuple(sorted(codes[c] for c in D1)),
            total,
        )
        assert offices(scope=OfficeScope(path_prefix=city_path)) == (None, total)
        assert offices(scope=OfficeScope(everything=True)) == (None, 0)
        assert offices(scope=OfficeScope()) == ((), 0)
        # An officer's office outside the office filter: nothing.
        assert offices(scope=OfficeScope(office_id=codes["gc"]), office_path=d1_path) == ((), 0)


def test_items_are_the_ticket_as_detail_shows_it(queue_city):
    for fmt in ("json", "geojson"):
        r = queue_city.client.get(
            "/v1/tickets", params={"format": fmt, "limit": 100}, headers=queue_city.h["sup_d1"]
        )
        assert r.status_code == 200
        items = r.json()["items"] if fmt == "json" else r.json()["features"]
        assert items
        for item in items:
            tid = item["id"]
            detail = queue_city.get(tid, "sup_d1").json()
            for k in ("report", "photos", "events"):
                detail.pop(k)
            if fmt == "geojson":
                assert item["geometry"]["coordinates"] == [detail.pop("lon"), detail.pop("lat")]
                item = item["properties"]
            assert item == detail


def _cursor(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "value",
    [
        {"created_at": "2026-01-01T00:00:00+00:00"},  # a key missing
        {"created_at": "2026-01-01T00:00:00", "id": 1},  # no offset
        {"created_at": "yesterday", "id": 1},
        {"created_at": "2026-01-01T00:00:00+00:00", "id": "1"},
        {"created_at": "2026-01-01T00:00:00+00:00", "id": True},
    ],
)
def test_malformed_cursor_is_a_422(city, value):
    cursor = _cursor({"k": "tickets:age", "v": value})
    r = city.client.get("/v1/tickets", params={"cursor": cursor}, headers=city.h["sup_city"])
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["cursor"]


def test_deferred_listeners_run_once_at_the_end_or_not_at_all(city, session_factory):
    tid = city.report()
    seen: list[tuple[str, int]] = []

    def listener(session, before, after, event) -> None:
        seen.append((event.kind, after.id))

    settings = city.settings
    now = utcnow()
    hooks.register(listener)
    try:
        with session_factory() as s:
            who = s.scalar(select(Principal).where(Principal.role == Role.admin.value))
            actor = Actor(who.id, who.name, Role.admin, None, None, None)
            hooks.defer(s)
            ticket = repository.get_for_update(s, tid)
            req = service.ActRequest(action=Action.accept)
            service.act(
                s, ticket, actor=actor, kind=ActorKind.admin, req=req, settings=settings, now=now
            )
            assert seen == []  # deferred
            s.rollback()
        assert seen == []  # rolled back with the change
        with session_factory() as s:
            hooks.defer(s)
            ticket = repository.get_for_update(s, tid)
            service.act(
                s, ticket, actor=actor, kind=ActorKind.admin, req=req, settings=settings, now=now
            )
            s.commit()  # the commit runs what is still queued
        assert seen == [("accepted", tid)]
        with session_factory() as s:
            assert s.get(Ticket, tid).status == "accepted"
    finally:
        hooks._LISTENERS.remove(listener)
